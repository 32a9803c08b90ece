"""train_judge: the loss falls and the judge is cached, every stage's losses are logged, the curriculum,
the change map trains, and the change / object crops are saved with the judge and prompt its pairs."""
import json
from dataclasses import replace

import numpy as np
import torch

from harness.embedded.judge.evaluate import evaluate_judge
from harness.embedded.judge.scorer import TinyJudgeScorer, load_or_train_judge
from harness.embedded.judge.train import train_judge
from harness.scorers.questions import EDIT, IDENTITY
from harness.scorers.scorer import SCORER_OPTIONS, HFVLMScorer, change_crop_slots


def test_training_lowers_loss_and_is_cached(tiny_cfg, harness_home, monkeypatch):
    cfg = replace(tiny_cfg, steps=20, lr=1e-2, single_only_steps=20, probe_types=["background"], remove_share=0.0)
    path = load_or_train_judge(cfg, log=[].append)
    log = json.loads((path / "train_log.json").read_text())
    assert log["loss_final"] < log["loss_init"], (log["loss_init"], log["loss_final"])
    assert (path / "manifest.json").exists() and path.is_relative_to(harness_home)
    mtime = (path / "model.safetensors").stat().st_mtime_ns

    def fail(*a, **k):
        raise AssertionError("the cached judge was retrained")

    import harness.embedded.judge.train as train

    monkeypatch.setattr(train, "train_judge", fail)
    again = load_or_train_judge(cfg)
    scorer = TinyJudgeScorer(cfg)
    assert again == path and (path / "model.safetensors").stat().st_mtime_ns == mtime
    res = evaluate_judge(scorer, n=7, seed=3)
    assert set(res) >= {EDIT, IDENTITY, "presence", "background"}
    assert all(0.0 <= v <= 1.0 for k, v in res.items() if k != "n")


def test_every_stage_logs_its_losses(tiny_cfg, tmp_path):
    cfg = replace(tiny_cfg, steps=3, pair_batch=4, single_batch=4, vqa_batch=2, single_only_steps=1)
    seen = []
    log = train_judge(cfg, tmp_path / "j", log=None, on_step=lambda step, scorer: seen.append(step))
    assert seen == [0, 1, 2]
    hist = np.array(log["history"], dtype=float)  # None (stage without that loss) -> NaN
    assert np.isnan(hist[0, [0, 1, 5]]).all() and np.isfinite(hist[0, 2:5]).all()  # one-image stage: no pairs
    assert np.isfinite(hist[1:]).all()  # then pairs, singles, VQA and the change map (default on)


def test_one_object_curriculum_limits_the_probe_scenes(tiny_cfg, tmp_path, monkeypatch):
    import harness.embedded.judge.train as train

    # in training: the first one_object_steps steps draw with max_objects=1, later steps with 3
    seen = []
    real = train.vqa_examples
    monkeypatch.setattr(train, "vqa_examples", lambda r, n, k=3: seen.append(k) or real(r, n, k))
    cfg = replace(tiny_cfg, steps=4, single_only_steps=4, one_object_steps=2, vqa_batch=2, single_batch=2,
                  pair_batch=2)
    train_judge(cfg, tmp_path / "j", log=None)
    assert seen == [1, 1, 3, 3]


def test_change_map_loss_trains(tiny_cfg, tmp_path):
    cfg = replace(tiny_cfg, steps=4, single_only_steps=0, pair_batch=8, lr=1e-2, change_aux_weight=1.0,
                  change_aux_layer=1)
    log = train_judge(cfg, tmp_path / "j", log=None)
    ch = np.array(log["history"], dtype=float)[:, 5]
    assert np.isfinite(ch).all() and ch[-1] != ch[0]
    off = train_judge(replace(cfg, steps=1, change_aux_weight=0.0), tmp_path / "k", log=None)
    assert off["history"][0][5] is None


def test_change_crops_are_saved_with_the_judge_and_prompt_four_images(tiny_cfg, tmp_path):
    cfg = replace(tiny_cfg, steps=2, single_only_steps=0, pair_batch=4, change_crops=True, object_crops=False)
    train_judge(cfg, tmp_path / "j", log=None)
    assert json.loads((tmp_path / "j" / SCORER_OPTIONS).read_text()) == {"change_crops": True}
    scorer = HFVLMScorer(str(tmp_path / "j"))
    src, out = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    q = ["is the rest unchanged"] * 2
    ids = scorer.model_inputs([src, out], q)["input_ids"]
    single = scorer.model_inputs([src], q)["input_ids"]
    image_tokens = lambda x: int((x[0] == scorer._image_token_id()).sum())  # noqa: E731
    assert image_tokens(ids) == 4 * image_tokens(single)
    lg = scorer.yes_no_logits([src, out], q)
    scorer.change_crops = False
    explicit = scorer.yes_no_logits([src, out, *change_crop_slots(src, out)], q)
    assert torch.allclose(lg, explicit, atol=1e-5)


def test_without_crops_no_options_are_saved(tiny_cfg, tmp_path):
    train_judge(replace(tiny_cfg, steps=1, single_only_steps=0, pair_batch=2, change_crops=False), tmp_path / "j",
                log=None)
    assert not (tmp_path / "j" / SCORER_OPTIONS).exists()
    assert not HFVLMScorer(str(tmp_path / "j")).change_crops


def test_object_crops_are_saved_with_the_judge_and_prompt_its_pairs(tiny_cfg, tmp_path):
    from harness.world.render import render_batch
    from harness.world.scene import Obj, Scene

    cfg = replace(tiny_cfg, steps=1, single_only_steps=0, pair_batch=2, object_crops=True)
    train_judge(cfg, tmp_path / "j", log=None)
    assert json.loads((tmp_path / "j" / SCORER_OPTIONS).read_text()) == {"change_crops": True, "object_crops": True}
    scorer = HFVLMScorer(str(tmp_path / "j"))
    small = Obj("circle", "red", "small", 2, 2)
    src = render_batch([Scene("white", (small,))], 32)
    out = render_batch([Scene("white", (replace(small, size="large"),))], 32)
    q = ["was the red circle made bigger ?"]
    grown = scorer.yes_no_logits([src, out], q)
    scorer.change_crops = scorer.object_crops = False
    assert torch.allclose(grown, scorer.yes_no_logits([src, out, *change_crop_slots(src, out, objects=True)], q), atol=1e-5)
    assert not torch.allclose(grown, scorer.yes_no_logits([src, out, *change_crop_slots(src, out)], q), atol=1e-5)
