import json
from dataclasses import replace

import numpy as np

from harness.scorers.questions import EDIT, IDENTITY
from harness.scorers.tiny_judge import (
    TinyJudgeScorer, edit_done, evaluate_judge, identity_kept, load_or_train_judge, random_case,
    sample_examples,
)


def test_training_lowers_loss_and_is_cached(tiny_cfg, harness_home):
    # 20 steps of the dense describe stage, then 10 Yes/No steps on the easiest question type
    cfg = replace(tiny_cfg, steps=30, lr=1e-2, describe_steps=20, describe_every=0, single_only_steps=10,
                  probe_types=["background"], remove_share=0.0)
    calls = []
    path = load_or_train_judge(cfg, log=calls.append)
    log = json.loads((path / "train_log.json").read_text())
    assert log["describe_loss_final"] < log["describe_loss_init"] - 0.5, log["describe_loss_final"]
    assert log["loss_final"] < log["loss_init"] + 0.01  # Yes/No loss: not broken by the stage switch
    assert (path / "manifest.json").exists() and path.is_relative_to(harness_home)
    mtime = (path / "model.safetensors").stat().st_mtime_ns

    def fail(_):
        raise AssertionError("the cached judge was retrained")

    import harness.scorers.tiny_judge as tj
    orig, tj.train_judge = tj.train_judge, lambda *a, **k: fail(None)
    try:
        again = load_or_train_judge(cfg)
        scorer = TinyJudgeScorer(cfg)
    finally:
        tj.train_judge = orig
    assert again == path and (path / "model.safetensors").stat().st_mtime_ns == mtime
    res = evaluate_judge(scorer, n=7, seed=3)
    assert set(res) >= {EDIT, IDENTITY, "presence", "background"}
    assert all(0.0 <= v <= 1.0 for k, v in res.items() if k != "n")


def test_examples_are_balanced_and_labels_exact():
    rng = np.random.default_rng(0)
    pairs, singles = sample_examples(rng, 40, 40, 0.1)
    for group in (pairs, singles):
        answers = [e.answer for e in group]
        assert sum(answers) == len(answers) // 2  # an always-Yes judge scores 0.5
    assert {len(e.images) for e in pairs} == {2} and {len(e.images) for e in singles} == {1}
    for _ in range(30):
        c = random_case(rng)
        assert edit_done(c, c.target) and identity_kept(c, c.target)
        assert identity_kept(c, c.source)
        assert not edit_done(c, c.source)


def test_describe_stage_and_mixed_steps_run(tiny_cfg, tmp_path):
    from harness.scorers.tiny_judge import train_judge

    cfg = replace(tiny_cfg, steps=3, describe_steps=1, describe_every=1, pair_batch=4, single_batch=4,
                  describe_batch=2)
    log = train_judge(cfg, tmp_path / "j", log=None)
    hist = np.array(log["history"], dtype=float)  # None (stage without that loss) -> NaN
    assert np.isfinite(hist[0, 4]) and np.isnan(hist[0, 0])  # alignment stage: describe loss only
    assert np.isfinite(hist[1:]).all()  # then Yes/No losses plus the auxiliary describe loss
