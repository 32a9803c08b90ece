"""Every generator method starts from the prepared editor initialisation (the same start for all, a fair
comparison), and init_from still overrides it."""

from safetensors.torch import load_file

from harness.cli import main
from tests.test_prepare_models import TINY

STEPS0 = ["calibration=[]", "supervised.steps=0", "supervised.eval_every=0"]


def _transformer(folder):
    return load_file(next((folder / "transformer").glob("*.safetensors")))


def test_a_method_starts_from_the_cached_editor_initialisation(tmp_path, harness_home):
    out = tmp_path / "run"
    assert main(["run", "methods=supervised", *TINY, *STEPS0, f"output_dir={out}"]) == 0
    (editor,) = list((harness_home / "editor").iterdir())
    start, exported = _transformer(editor), _transformer(out / "models" / "supervised")
    assert start.keys() == exported.keys()
    assert all((start[k] == exported[k]).all() for k in start)  # zero steps: the editor init, unchanged
    # the editor init is not the bare teacher: its reference inputs were trained (they start at zero)
    conv = start["conv_in.weight"]
    assert conv[:, conv.shape[1] // 2:].abs().sum() > 0


def test_init_from_overrides_the_editor_initialisation(tmp_path, harness_home):
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["run", "methods=supervised", *TINY, "calibration=[]", "supervised.steps=2",
                 "supervised.eval_every=0", "supervised.lr=1e-2", f"output_dir={first}"]) == 0
    assert main(["run", "methods=supervised", *TINY, *STEPS0, f"supervised.init_from={first}",
                 f"output_dir={second}"]) == 0
    chained, trained = _transformer(second / "models" / "supervised"), _transformer(first / "models" / "supervised")
    (editor,) = list((harness_home / "editor").iterdir())
    assert all((chained[k] == trained[k]).all() for k in trained)
    assert any((chained[k] != v).any() for k, v in _transformer(editor).items())
