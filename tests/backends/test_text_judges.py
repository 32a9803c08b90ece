"""Judges qwen2_5_vl, llava_onevision and internvl as text judges (VIEScore / ImgEdit) on tiny random checkpoints:
greedy generation is deterministic, starts with the token the Yes/No scorer's own prompt ranks first, and a
judged run records the tiny judge's garbage replies as counted parse failures."""

import json

import pandas as pd
import pytest
import torch

from benchmarks.judges.hf_text_judge import HFTextJudge
from harness.cli import main
from harness.scorers.chat_judges import InternVLScorer, LlavaOnevisionScorer
from harness.scorers.qwen2_5_vl import Qwen25VLScorer
from tests.suites.fixtures import gedit_folder, imgedit_folder

KINDS = {"qwen2_5_vl": Qwen25VLScorer, "llava_onevision": LlavaOnevisionScorer, "internvl": InternVLScorer}


def _folder(kind, root):
    from benchmarks.tiny_checkpoints import build_tiny_chat_judge, build_tiny_qwen25vl

    return build_tiny_qwen25vl(root) if kind == "qwen2_5_vl" else build_tiny_chat_judge(root, kind)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {k: _folder(k, tmp_path_factory.mktemp(k)) for k in KINDS}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_greedy_generation_is_deterministic_text_from_the_scorers_prompt(folders, kind):
    judge = HFTextJudge(KINDS[kind](str(folders[kind])), name=kind)
    assert judge.judge_id.startswith(f"{kind}:") and f":{kind}:" in judge.judge_id
    torch.manual_seed(0)
    source, edited, odd = torch.rand(3, 56, 56), torch.rand(3, 56, 56), torch.rand(3, 48, 64)
    prompt = "was the request done ? make the cat red"
    for images in ([source, edited], [edited], [odd], [odd, odd]):  # VIEScore PQ asks about one image
        a = judge.generate(images, prompt, 0.0, 6, 0)
        assert isinstance(a, str) and a and a == judge.generate(images, prompt, 0.0, 6, 1)
    # the first greedy token is the argmax of the scorer's answer logits: the same chat layout and pixels
    first = judge.scorer.answer_logits([source[None], edited[None]], [prompt])[0].argmax()
    expected = judge.scorer.tokenizer.decode([int(first)], skip_special_tokens=True)
    assert judge.generate([source, edited], prompt, 0.0, 1, 0) == expected


def _judged_run(tmp_path, folder, kind, suite_args):
    out = tmp_path / "out"
    args = ["run", "methods=copy", "calibration=[]", f"output_dir={out}", "world.resolution=16",
            f"scorer.path={folder}", *suite_args]
    assert main(args) == 0
    return pd.read_json(out / "scores.jsonl", lines=True), json.loads((out / "summary.json").read_text())


def _check_rows(scores, block, kind, protocol, metric):
    assert set(scores["protocol"]) == {protocol}
    assert all(j.startswith(f"{kind}:") for j in scores["judge_id"])
    failed = ~scores["parse_ok"].astype(bool)
    assert scores.loc[failed, metric].isna().all()  # an unparsed reply is missing, never a substitute
    assert block["judge"]["parse_failures"] == int(failed.sum()) > 0  # a random tiny judge writes garbage
    replies = [json.loads(r) for r in scores["raw_replies"]]
    assert all(isinstance(t, str) for r in replies for ts in r.values() for t in ts)  # kept verbatim
    assert json.loads(scores["decoding"][0]) == {"temperature": 0.0, "max_new_tokens": 4, "seed": 42}


def test_imgedit_run_with_qwen2_5_vl_counts_parse_failures(tmp_path, folders):
    basic = imgedit_folder(tmp_path / "bench")
    scores, summary = _judged_run(tmp_path, folders["qwen2_5_vl"], "qwen2_5_vl", [
        "suites=imgedit", f"imgedit.path={basic}", f"imgedit.images={tmp_path / 'bench' / 'singleturn'}",
        "imgedit.judge.scorer=qwen2_5_vl", "imgedit.judge.max_new_tokens=4"])
    assert len(scores) == 4
    _check_rows(scores, summary["copy"]["imgedit"], "qwen2_5_vl", "imgedit", "imgedit_score")
    assert list(json.loads(scores["raw_replies"][0])) == ["score"]


def test_gedit_viescore_run_with_llava_onevision_counts_parse_failures(tmp_path, folders):
    scores, summary = _judged_run(tmp_path, folders["llava_onevision"], "llava_onevision", [
        "suites=gedit", f"gedit.path={gedit_folder(tmp_path)}", "gedit.judge.scorer=llava_onevision",
        "gedit.judge.max_new_tokens=4"])  # judge.mode=auto: a scorer that generates text gets the text protocol
    assert len(scores) == 3
    _check_rows(scores, summary["copy"]["gedit"], "llava_onevision", "viescore", "viescore_O")
    assert all(list(json.loads(r)) == ["sc", "pq"] for r in scores["raw_replies"])  # two- and one-image queries
