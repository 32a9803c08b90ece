"""End to end: `run methods=copy suites=gedit|imgedit` judges the edits, writes the official layout,
and the summary and report say which judge and template produced the numbers."""

import json

import pandas as pd
import pytest

from harness import registry
from harness.cli import main
from tests.suites.fake_judges import FakeTextJudge, FakeYesNoScorer
from tests.suites.fixtures import gedit_folder, imgedit_folder


@pytest.fixture(autouse=True)
def fake_judges():
    registry.scorers.register("fake_pyes", FakeYesNoScorer)
    registry.scorers.register("fake_text", FakeTextJudge)
    yield
    registry.scorers.unregister("fake_pyes")
    registry.scorers.unregister("fake_text")


def _run(out, *overrides):
    assert main(["run", "methods=copy", f"output_dir={out}", "world.resolution=16", *overrides]) == 0
    scores = pd.read_json(out / "scores.jsonl", lines=True)
    return scores, json.loads((out / "summary.json").read_text()), (out / "report.md").read_text()


def test_gedit_text_judge_viescore_end_to_end(tmp_path):
    out = tmp_path / "out"
    scores, summary, report = _run(out, "suites=gedit", f"gedit.path={gedit_folder(tmp_path)}",
                                   "gedit.language=all", "gedit.judge.scorer=fake_text")
    assert len(scores) == 6 and set(scores["protocol"]) == {"viescore"}
    ok = scores[scores["key"] != "k2"]
    assert (ok["viescore_SC"] == 6).all() and (ok["viescore_PQ"] == 5).all()
    assert ok["viescore_O"].round(6).eq(round(30 ** 0.5, 6)).all()
    assert scores.loc[scores["key"] == "k2", "viescore_SC"].isna().all()  # unparsed: missing, not made up
    g = summary["copy"]["gedit"]
    assert g["judge"]["judge_id"] == ["fake-text-1"] and g["judge"]["template_id"][0].startswith("harness-viescore-v1@")
    assert g["judge"]["parse_failures"] == 2 and g["viescore_SC"] == pytest.approx(6.0)  # over parsed rows only
    assert set(g["by_language"]) == {"en", "cn"} and g["load"]["skipped"] == 0
    assert "fake-text-1" in report and "harness-viescore-v1@" in report  # judge and template stated
    for lang in ("en", "cn"):
        assert (out / "gedit" / "copy" / "fullset" / "subject-add" / lang / "k2.png").is_file()
        assert (out / "gedit" / "copy" / "fullset" / "subject-add" / lang / "k2_SRCIMG.png").is_file()


def test_gedit_with_a_scorer_that_cannot_talk_uses_pyes_and_says_so(tmp_path):
    scores, summary, report = _run(tmp_path / "out", "suites=gedit", f"gedit.path={gedit_folder(tmp_path)}",
                                   "gedit.judge.scorer=fake_pyes")
    assert set(scores["protocol"]) == {"pyes"} and scores["pyes_O"].notna().all()
    g = summary["copy"]["gedit"]
    assert g["judge"]["judge_id"] == ["fake-yes-no-1"] and g["judge"]["judge_mode"][0].startswith("P(Yes)")
    assert "viescore_O" not in g and "fake-yes-no-1" in report


def test_text_mode_with_a_scorer_that_cannot_talk_exits_2(tmp_path, capsys):
    rc = main(["run", "methods=copy", f"output_dir={tmp_path / 'out'}", "suites=gedit",
               f"gedit.path={gedit_folder(tmp_path)}", "gedit.judge.scorer=fake_pyes", "gedit.judge.mode=text"])
    assert rc == 2 and "cannot generate text" in capsys.readouterr().err


def test_imgedit_end_to_end_with_official_names(tmp_path):
    basic = imgedit_folder(tmp_path / "bench")
    out = tmp_path / "out"
    args = ("suites=imgedit", f"imgedit.path={basic}", f"imgedit.images={tmp_path / 'bench' / 'singleturn'}",
            "imgedit.judge.scorer=fake_text")
    scores, summary, _ = _run(out, *args)
    assert len(scores) == 4 and (scores["imgedit_score"] == 4).all()
    assert summary["copy"]["imgedit"]["judge"]["template_id"][0].startswith("harness-imgedit-v1@")
    assert sorted(p.name for p in (out / "imgedit" / "copy").iterdir()) == ["1.png", "2.png", "3.png", "4.png"]
    assert len(_run(out, *args)[0]) == 4  # the same command again resumes: nothing is judged twice
    # the implicit calibration row `target` has no targets to return on a benchmark: skipped and logged
    events = pd.read_json(out / "metrics.jsonl", lines=True)
    skips = events[events["event"] == "skip"]
    assert set(skips["method"]) == {"target"} and set(skips["suite"]) == {"imgedit"}
    assert set(scores["method"]) == {"copy"}
