"""NP-Edit end to end on tiny models: every phase runs, losses are logged, compute is counted."""

import json


from harness.cli import main
from tests.test_prepare_models import TINY

STEPS = ["npedit.steps=4", "npedit.identity_warmup=1", "npedit.single_step_iters=1", "npedit.aux_updates_per_step=2",
         "npedit.batch_size=2", "npedit.log_every=1", "npedit.inference_steps=2", "npedit.do_nothing_prob=0.0"]


def _rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_npedit_runs_every_phase_and_reports(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "methods=copy,npedit", *TINY, *STEPS, "npedit.eval_every=2", f"output_dir={out}"]) == 0
    train = [r for r in _rows(out) if r.get("event") == "train" and r["method"] == "npedit"]
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    assert "loss_identity" in train[0]  # warm-up
    assert train[1]["two_step"] == 0.0 and train[2]["two_step"] == 1.0  # single-step phase, then unrolled
    for key in ("loss_vlm", "loss_dmd", "loss_aux"):
        assert all(key in r for r in train[1:]), key
    curve = [r for r in _rows(out) if r.get("event") == "curve"]
    assert [r["step"] for r in curve] == [0, 2, 4] and all(0 <= r["eval_edit_success"] <= 1 for r in curve)
    assert curve[-1]["nfe"] == 12 and curve[0]["wall_seconds"] == 0.0
    summary = json.loads((out / "summary.json").read_text())
    compute = summary["npedit"]["compute"]
    assert compute["nfe"] == 2 + 2 + 4 + 4 and compute["vlm_calls"] == 3 * 2 * 2
    assert 0 <= summary["npedit"]["shapes"]["edit_success"] <= 1
    report = (out / "report.md").read_text()
    for figure in ("training_curves.png", "compute_curves.png", "grid_shapes.png"):
        assert (out / figure).stat().st_size > 0 and f"({figure})" in report
    assert "Columns: source, copy, npedit, target." in report and "At the smallest shared budget" in report


def test_dmd_only_preset_has_no_vlm_loss(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "methods=npedit_dmd_only", *TINY, *[s.replace("npedit.", "npedit_dmd_only.") for s in STEPS],
                 f"output_dir={out}"]) == 0
    train = [r for r in _rows(out) if r.get("event") == "train"]
    assert all("loss_vlm" not in r for r in train) and "loss_dmd" in train[-1]
    assert "vlm_calls" not in json.loads((out / "summary.json").read_text())["npedit_dmd_only"]["compute"]
