"""Catalogue, judge replies: unparseable, out of range, empty, ambiguous, non-finite. Never a made-up score:
the sample keeps no score, parse_ok is False, and the failure is counted in summary.json."""

import json

import pandas as pd
import pytest

from benchmarks.judges.judge_parsing import parse_named_scores, parse_score_list
from benchmarks.judges.text_judge import TextJudge
from harness import registry
from harness.cli import main
from tests.suites.fixtures import gedit_folder

VIESCORE_BAD = {
    "empty": "",
    "whitespace": "   \n ",
    "prose": "The edit looks fine to me.",
    "out_of_range": '{"score": [12, 3], "reasoning": "great"}',
    "negative": '{"score": [-1, 3]}',
    "wrong_count": '{"score": [7]}',
    "scalar": '{"score": 7}',
    "non_number": '{"score": ["seven", 3]}',
    "nan": '{"score": [NaN, 3]}',
    "ambiguous": '{"score": [7, 3]} actually {"score": [2, 3]}',
}


@pytest.mark.parametrize("kind", list(VIESCORE_BAD))
def test_viescore_reply_is_refused_not_guessed(kind):
    r = parse_score_list(VIESCORE_BAD[kind], n_scores=2, lo=0, hi=10)
    assert not r.ok and r.scores is None and r.error


@pytest.mark.parametrize("reply", ["", "no score here", "Score: 9", "Score: 3.5", "Score: 4\nScore: 2", "Score: 0"])
def test_imgedit_reply_is_refused_not_guessed(reply):
    r = parse_named_scores(reply, lo=1, hi=5)
    assert not r.ok and r.scores is None and r.error


def test_pyes_non_finite_probability_is_a_counted_failure():
    import torch

    from benchmarks.judges.pyes_protocol import PyesProtocol

    class NaNScorer:
        judge_id = "nan-1"

        def reward(self, images, texts):
            return torch.full((images[-1].shape[0],), float("nan"))

    sample = {"sample_id": "s", "category": "add", "instruction": "add a hat", "source": torch.rand(3, 8, 8)}
    (row,) = PyesProtocol().judge(NaNScorer(), [sample], torch.rand(1, 3, 8, 8))
    assert not row.parse_ok and all(v is None for v in row.metrics.values())


class ScriptedJudge(TextJudge):
    """Replies by the sample's key in the prompt: k1 empty, k2 out of range, k3 prose (GEdit, VIEScore)."""

    judge_id = "scripted-1"
    deterministic = True
    REPLIES = {"k1": "", "k2": '{"score": [12, 3], "reasoning": "x"}', "k3": "It is fine."}

    @classmethod
    def from_context(cls, ctx):
        return cls()

    def generate(self, images, prompt, temperature, max_new_tokens, seed):
        key = next((k for k in self.REPLIES if k in prompt), None)
        return self.REPLIES[key] if key else '{"score": [8, 8], "reasoning": "ok"}'


@pytest.fixture
def scripted():
    registry.scorers.register("scripted", ScriptedJudge)
    yield
    registry.scorers.unregister("scripted")


def test_a_run_counts_every_unparsed_reply_in_the_summary(scripted, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "-q", "methods=copy", "suites=gedit", f"gedit.path={gedit_folder(tmp_path)}",
                 "gedit.language=en", "gedit.judge.scorer=scripted", "world.resolution=16", f"output_dir={out}"])
    assert code == 0, capsys.readouterr().err
    scores = pd.read_json(out / "scores.jsonl", lines=True)
    assert len(scores) == 3 and not scores["parse_ok"].any()  # every reply of this judge is bad
    assert scores["viescore_SC"].isna().all()  # missing, never made up
    judge = json.loads((out / "summary.json").read_text())["copy"]["gedit"]["judge"]
    assert judge["parse_failures"] == 3 and judge["parsed"] == 0 and judge["failure_rate"] == 1.0
