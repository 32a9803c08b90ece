"""End to end: `harness run methods=copy,target` writes every run file; calibration bounds hold."""

import json

import pandas as pd
import pytest
import torch
import yaml

from harness import registry
from harness.cli import main
from harness.method import Method


@pytest.fixture(scope="module")
def calibration_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    assert main(["run", "methods=copy,target", f"output_dir={out}"]) == 0
    return out


def test_run_directory_has_every_file(calibration_run):
    out = calibration_run
    for name in ("config.yaml", "provenance.json", "metrics.jsonl", "scores.jsonl", "summary.json",
                 "report.md", "outputs/outputs.jsonl"):
        assert (out / name).is_file(), name
    assert yaml.safe_load((out / "config.yaml").read_text())["methods"] == ["copy", "target"]
    prov = json.loads((out / "provenance.json").read_text())
    for key in ("git_sha", "packages", "config_hash", "world_hash", "engine", "device", "start_time", "end_time"):
        assert prov[key], key


def test_calibration_bounds(calibration_run):
    summary = json.loads((calibration_run / "summary.json").read_text())
    copy, target = summary["copy"]["shapes"], summary["target"]["shapes"]
    assert copy["edit_success"] <= 0.05 and copy["preservation"] >= 0.95
    assert target["edit_success"] >= 0.99 and target["preservation"] >= 0.99 and target["realism"] >= 0.99
    assert summary["copy"]["role"] == "lower bound" and summary["target"]["role"] == "upper bound"
    assert set(copy["by_category"]) >= {"color_alter", "subject-remove", "subject-move"}


def test_one_score_row_per_method_and_sample_with_every_metric(calibration_run):
    scores = pd.read_json(calibration_run / "scores.jsonl", lines=True)
    outputs = pd.read_json(calibration_run / "outputs" / "outputs.jsonl", lines=True)
    n = scores["sample_id"].nunique()
    assert len(scores) == 2 * n and not scores.duplicated(["method", "suite", "sample_id"]).any()
    for metric in ("edit_success", "preservation", "realism", "pixel_mse_target", "pixel_mse_unedited"):
        assert scores[metric].notna().all(), metric
    assert len(outputs) == 2 * n
    assert all((calibration_run / p).is_file() for p in outputs["path"])
    # The target bound's PNGs are the targets: its pixel error is zero up to 8-bit rounding.
    assert scores.loc[scores.method == "target", "pixel_mse_target"].max() < 1e-5


def test_report_shows_bounds_and_is_rebuilt_from_files(calibration_run):
    report = calibration_run / "report.md"
    text = report.read_text()
    assert "copy (lower bound)" in text and "target (upper bound)" in text and "edit_success" in text
    report.unlink()
    assert main(["report", str(calibration_run)]) == 0
    assert report.read_text() == text


def test_rerun_resumes_without_rescoring(calibration_run):
    before = (calibration_run / "scores.jsonl").read_text()
    assert main(["run", "methods=copy,target", f"output_dir={calibration_run}"]) == 0
    assert (calibration_run / "scores.jsonl").read_text() == before


def test_rerun_with_other_config_is_refused(calibration_run, capsys):
    assert main(["run", "methods=copy", f"output_dir={calibration_run}"]) == 2
    assert "different config" in capsys.readouterr().err


class _Spy(Method):
    seen: list = []

    def edit(self, samples, steps=None):
        _Spy.seen.extend(samples)
        return torch.stack([s.source for s in samples])


def test_non_privileged_methods_never_see_targets(tmp_path):
    registry.methods.register("spy", _Spy)
    try:
        assert main(["run", "methods=spy", "world.n_eval=14", f"output_dir={tmp_path / 'o'}"]) == 0
    finally:
        registry.methods.unregister("spy")
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert {"copy", "target", "spy"} <= set(summary)  # the calibration rows join a run by default
    assert _Spy.seen and all(s.target is None and s.target_scene is None for s in _Spy.seen)


class _TrainableCopy(Method):
    """Learns a per-channel gain toward identity; enough to drive the whole trainer path."""

    from harness.trainer import TrainConfig as Config

    trainable = True
    trained_models = ("generator",)

    def setup(self, engine):
        self.engine = engine
        gain = torch.nn.Parameter(torch.full((3, 1, 1), 0.5))
        module = torch.nn.ParameterList([gain])
        self.module = engine.prepare("generator", module, torch.optim.SGD(module.parameters(), lr=0.5))

    def train_step(self, step):
        x = torch.rand(self.cfg.batch_size, 3, 8, 8)
        gain = self.engine.unwrap("generator")[0]
        loss = ((gain * x - x) ** 2).mean()
        self.engine.backward("generator", loss)
        self.engine.step("generator")
        self.count("nfe", self.cfg.batch_size)
        return {"loss": float(loss.detach())}

    def edit(self, samples, steps=None):
        return torch.stack([s.source for s in samples]) * self.engine.unwrap("generator")[0].detach()


def test_trainable_method_trains_checkpoints_and_reports_compute(tmp_path):
    registry.methods.register("tcopy", _TrainableCopy)
    out = tmp_path / "o"
    try:
        args = ["run", "methods=tcopy", "tcopy.steps=5", "tcopy.log_every=1", "world.n_eval=14", f"output_dir={out}"]
        assert main(args) == 0
    finally:
        registry.methods.unregister("tcopy")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r.get("event") == "train"]
    assert len(losses) == 5 and losses[-1] < losses[0]
    assert (out / "checkpoints" / "tcopy" / "step-00000005" / "COMPLETE").exists()
    compute = json.loads((out / "summary.json").read_text())["tcopy"]["compute"]
    assert compute["nfe"] == 5 * 8 and compute["wall_seconds"] > 0


@pytest.mark.parametrize("override, must_name", [("tcopy.stpes=3", "Did you mean 'steps'"),
                                                 ("tcopy.steps=-1", ">= 0"),
                                                 ("tcopy.batch_size=big", "tcopy.batch_size")])
def test_method_section_overrides_are_checked(override, must_name, tmp_path, capsys):
    registry.methods.register("tcopy", _TrainableCopy)
    try:
        assert main(["run", "methods=tcopy", override, f"output_dir={tmp_path / 'o'}"]) == 2
    finally:
        registry.methods.unregister("tcopy")
    assert must_name in capsys.readouterr().err
