"""One scale per judge protocol, stated in summary.json and the report (issue 27: pyes_over_editing read
8.77 beside pyes_* values below 1; they were all 10 x P, the judge just barely said Yes to the others)."""

import json

import pytest
import torch

from benchmarks.judges.imgedit_protocol import ImgEditProtocol
from benchmarks.judges.pyes_protocol import PyesProtocol
from benchmarks.judges.viescore import VIEScoreProtocol
from harness import registry
from harness.cli import main
from tests.suites.fake_judges import FakeYesNoScorer
from tests.suites.fixtures import imgedit_folder


class ByQuestion:
    """P(Yes) 0.877 for the over-editing question, 0.05 for every other one."""

    judge_id = "by-question-1"

    def reward(self, images, texts):
        return torch.tensor([0.877 if "apart from what the request names" in t else 0.05 for t in texts])


def test_every_pyes_metric_is_ten_times_a_probability():
    sample = {"sample_id": "s", "category": "add", "instruction": "add a hat", "source": torch.rand(3, 8, 8)}
    (row,) = PyesProtocol().judge(ByQuestion(), [sample], torch.rand(1, 3, 8, 8))
    m = row.metrics
    assert m["pyes_over_editing"] == pytest.approx(8.77)
    assert m["pyes_edit_success"] == pytest.approx(0.5) and m["pyes_SC"] == pytest.approx(0.5)  # 10 x 0.05, same scale
    assert all(0 <= v <= 10 for v in m.values())


def test_each_protocol_states_its_scale():
    assert PyesProtocol.scale.startswith("0-10") and "10 x P" in PyesProtocol.scale
    assert VIEScoreProtocol.scale.startswith("0-10") and ImgEditProtocol.scale.startswith("1-5")


def test_the_scale_is_in_the_summary_and_the_report(tmp_path):
    basic = imgedit_folder(tmp_path / "bench")
    registry.scorers.register("fake_pyes", FakeYesNoScorer)
    out = tmp_path / "out"
    try:
        assert main(["run", "-q", "methods=copy", "suites=imgedit", f"imgedit.path={basic}",
                     f"imgedit.images={tmp_path / 'bench' / 'singleturn'}", "imgedit.judge.scorer=fake_pyes",
                     "world.resolution=16", f"output_dir={out}"]) == 0
    finally:
        registry.scorers.unregister("fake_pyes")
    judge = json.loads((out / "summary.json").read_text())["copy"]["imgedit"]["judge"]
    assert judge["judge_scale"] == [PyesProtocol.scale]
    assert PyesProtocol.scale in (out / "report.md").read_text()
