import pandas as pd
import pytest

from harness.suite import aggregate


def test_micro_and_macro_differ_on_unbalanced_categories():
    # 3 samples of "a" scoring 1, one of "b" scoring 0: micro 0.75, macro 0.5.
    df = pd.DataFrame({
        "method": ["m"] * 4, "suite": ["s"] * 4, "role": ["method"] * 4,
        "sample_id": list("wxyz"), "category": ["a", "a", "a", "b"], "edit_success": [1.0, 1.0, 1.0, 0.0],
    })
    s = aggregate(df)["m"]["s"]
    assert s["edit_success"] == pytest.approx(0.75)
    assert s["macro"]["edit_success"] == pytest.approx(0.5)
    assert s["by_category"]["b"] == {"edit_success": 0.0, "n": 1}
    assert s["n"] == 4
