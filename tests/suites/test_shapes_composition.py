"""The shapes suite tags each row with its composition; the summary breaks metrics down by it."""

import pandas as pd
import pytest
import torch

from benchmarks.shapes_suite import HELD_OUT, NO_RESULT, SEEN, ShapesSuite, composition
from harness.method import RunContext
from harness.suite import aggregate
from harness.world.dataset import RESULT_CATEGORIES, WorldConfig, build_split, result_combo


class _Cfg:  # the two attributes a suite reads from a ResolvedConfig
    def __init__(self, world):
        self.run = type("Run", (), {"world": world})()
        self.suites = {}


def test_eval_rows_are_tagged_and_held_out_results_are_exactly_the_heldout_pairs(tmp_path):
    world = WorldConfig(n_eval=28, resolution=16)
    suite = ShapesSuite(RunContext(cfg=_Cfg(world), run_dir=tmp_path, home=tmp_path, device=torch.device("cpu")))
    samples = suite.samples()
    df = suite.score(samples, torch.stack([s.source for s in samples]))
    assert set(df["composition"]) == {HELD_OUT, SEEN, NO_RESULT}
    for s, tag in zip(samples, df["composition"]):
        combo = result_combo(s.category, s.spec, s.source_scene)
        assert (tag == NO_RESULT) == (s.category not in RESULT_CATEGORIES)
        if combo is not None:
            assert (tag == HELD_OUT) == (" ".join(combo) in world.heldout)


def test_composition_of_one_sample():
    s = next(s for s in build_split(WorldConfig(n_eval=14, resolution=16), "eval") if s.category == "color_alter")
    combo = result_combo(s.category, s.spec, s.source_scene)
    assert composition(s, frozenset({combo})) == HELD_OUT
    assert composition(s, frozenset()) == SEEN


def test_summary_has_a_by_composition_block_with_micro_macro_and_n():
    df = pd.DataFrame({
        "method": ["m"] * 5, "suite": ["shapes"] * 5, "role": ["method"] * 5, "sample_id": list("abcde"),
        "category": ["color_alter", "color_alter", "subject-add", "subject-add", "subject-move"],
        "composition": [HELD_OUT, SEEN, HELD_OUT, HELD_OUT, NO_RESULT],
        "edit_success": [0.0, 1.0, 1.0, 1.0, 1.0],
    })
    s = aggregate(df)["m"]["shapes"]
    held = s["by_composition"][HELD_OUT]
    assert held["n"] == 3 and held["edit_success"] == pytest.approx(2 / 3)  # micro over the 3 samples
    assert held["macro"]["edit_success"] == pytest.approx(0.5)  # color_alter 0, subject-add 1
    assert s["by_composition"][SEEN] == {"edit_success": 1.0, "n": 1, "macro": {"edit_success": 1.0}}
    assert s["edit_success"] == pytest.approx(0.8) and set(s["by_category"]) == {"color_alter", "subject-add", "subject-move"}


def test_rows_without_the_tag_get_no_block_and_other_suites_metrics_are_left_out():
    df = pd.DataFrame({"method": ["m", "m"], "suite": ["shapes", "other"], "sample_id": ["a", "b"],
                       "category": ["x", "y"], "composition": [SEEN, None], "edit_success": [1.0, None],
                       "O": [None, 5.0]})
    out = aggregate(df)["m"]
    assert "by_composition" in out["shapes"] and "by_composition" not in out["other"]
    assert "O" not in out["shapes"] and "edit_success" not in out["other"]
