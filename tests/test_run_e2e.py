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
    assert _Spy.seen and all(s.target is None and s.target_scene is None for s in _Spy.seen)
