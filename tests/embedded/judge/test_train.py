import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from harness.scorers.judge_config import JudgeConfig
from harness.scorers.questions import EDIT, IDENTITY
from harness.scorers.tiny_judge import (
    TinyJudgeScorer,
    edit_done,
    evaluate_judge,
    identity_kept,
    load_or_train_judge,
    probe_example,
    random_case,
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
                  describe_batch=2, vqa_batch=2, single_only_steps=0)
    seen = []
    log = train_judge(cfg, tmp_path / "j", log=None, on_step=lambda step, scorer: seen.append(step))
    assert seen == [0, 1, 2]
    hist = np.array(log["history"], dtype=float)  # None (stage without that loss) -> NaN
    assert np.isfinite(hist[0, 4]) and np.isnan(hist[0, 0])  # alignment stage: describe loss only
    assert np.isfinite(hist[1:, :5]).all()  # then Yes/No losses plus the auxiliary describe loss
    assert np.isnan(hist[0, 5]) and np.isfinite(hist[1:, 5]).all()  # change map (default on): pair steps only


def test_vqa_examples_have_exact_one_word_answers():
    from harness.scorers.tiny_judge import build_tokenizer, vqa_examples
    from harness.world.palette import BACKGROUNDS, COLORS, SHAPES

    tok = build_tokenizer()
    exs = vqa_examples(np.random.default_rng(0), 60)
    assert len(exs) == 60 and {len(e.images) for e in exs} == {1}
    for e in exs:
        scene, q, a = e.images[0], e.question, e.variant
        ids = tok.encode(q + " " + a, add_special_tokens=False)
        assert tok.unk_token_id not in ids
        if "background" in q:
            assert a == scene.background and a in BACKGROUNDS
        elif q.startswith("how many"):
            assert a == ("zero", "one", "two", "three")[len(scene.objects)]
        elif q.startswith("what color"):
            shape = q.split()[-2]
            assert [o.color for o in scene.objects if o.shape == shape] == [a] and a in COLORS
        else:
            color = q.split()[4]
            assert [o.shape for o in scene.objects if o.color == color] == [a] and a in SHAPES


def test_siglip_tower_and_question_first_prompt(tiny_cfg):
    import torch

    from harness.scorers.scorer import HFVLMScorer
    from harness.scorers.tiny_judge import build_model, build_processor

    cfg = replace(tiny_cfg, vision_model="siglip", images_first=False, init_std=0.1, pos_init_std=0.5)
    proc = build_processor(cfg)
    model = build_model(cfg, proc.tokenizer)
    sc = HFVLMScorer.from_parts(model, proc.tokenizer, proc.image_processor, proc)
    n_tok = sc._llava_tokens_per_image((32, 32))
    assert n_tok == (32 // cfg.patch_size) ** 2  # no CLS token with SigLIP: the "full" strategy
    ids = sc._ids("is the background white ? Answer Yes or No .", 2, n_tok)
    words = proc.tokenizer.convert_ids_to_tokens(ids)
    assert words.index("background") < words.index("<image>") and words[-1] == "ASSISTANT:"
    lg = sc.yes_no_logits([torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)], ["is the background white ?"] * 3)
    assert lg.shape == (3, 2) and torch.isfinite(lg).all()


def test_one_object_curriculum_limits_the_probe_scenes(tiny_cfg, tmp_path, monkeypatch):
    from harness.scorers import tiny_judge
    from harness.scorers.tiny_judge import train_judge, vqa_examples

    rng = np.random.default_rng(3)
    _, singles = sample_examples(rng, 0, 80, 0.0, remove_share=0.0, max_objects=1)
    assert max(len(e.images[0].objects) for e in singles) == 1
    _, many = sample_examples(rng, 0, 80, 0.0, remove_share=0.0)
    assert max(len(e.images[0].objects) for e in many) > 1
    assert max(len(e.images[0].objects) for e in vqa_examples(rng, 40, max_objects=1)) == 1
    pairs, _ = sample_examples(rng, 40, 0, 0.0, pair_max_objects=1, identity_share=1.0)
    assert {e.qtype for e in pairs} == {IDENTITY} and max(len(e.images[0].objects) for e in pairs) == 1
    pairs, _ = sample_examples(rng, 40, 0, 0.0, identity_share=0.0)
    assert {e.qtype for e in pairs} == {EDIT} and max(len(e.images[0].objects) for e in pairs) > 1

    # in training: the first one_object_steps steps draw with max_objects=1, later steps with 3
    seen = []
    real = tiny_judge.vqa_examples
    monkeypatch.setattr(tiny_judge, "vqa_examples", lambda r, n, k=3: seen.append(k) or real(r, n, k))
    cfg = replace(tiny_cfg, steps=4, single_only_steps=4, one_object_steps=2, vqa_batch=2, single_batch=2,
                  pair_batch=2)
    train_judge(cfg, tmp_path / "j", log=None)
    assert seen == [1, 1, 3, 3]


@pytest.mark.parametrize("bad,key", [({"probe_types": ["shapes"]}, "probe_types"), ({"probe_types": []}, "probe_types"),
                                     ({"identity_share": 1.5}, "identity_share"),
                                     ({"one_object_steps": -1}, "one_object_steps"),
                                     ({"grain_prob": 1.5}, "grain_prob"), ({"grain_sigma": 0.1}, "grain_sigma"),
                                     ({"size_change_batch": -1}, "size_change_batch"),
                                     ({"count_near_share": 1.2}, "count_near_share")])
def test_judge_config_names_the_bad_key(bad, key):
    with pytest.raises(ValueError, match=key):
        JudgeConfig(**bad)


def test_count_near_share_asks_the_neighbouring_counts_and_stays_out_of_the_cache_key():
    """count_near_share=1: every wrong count asked is the true count +- 1 (the 2-vs-3 confusion the judge
    made); 0: the wrong counts are drawn from all others, as the held-out questions are."""
    from harness.scorers.questions import COUNT_WORDS
    from harness.world.scene import random_scene

    def wrong_counts(near):
        rng, out = np.random.default_rng(5), []
        for _ in range(300):
            scene = random_scene(rng, 1, 3)
            ex = probe_example(scene, "count", False, rng, count_near=near)
            out.append((len(scene.objects), COUNT_WORDS.index(ex.question.split()[3])))
        return out

    near = wrong_counts(1.0)
    assert all(abs(asked - n) == 1 for n, asked in near)
    assert {(3, 2), (2, 3), (2, 1), (1, 2), (1, 0)} <= set(near)
    anywhere = wrong_counts(0.0)
    assert all(asked != n for n, asked in anywhere) and any(abs(asked - n) > 1 for n, asked in anywhere)
    assert "count_near_share" not in JudgeConfig(count_near_share=0.0).cache_key()  # judges cached before it
    assert JudgeConfig().cache_key()["count_near_share"] == 0.6


def test_grain_shows_faint_noise_on_the_edited_image_only_with_the_same_answers():
    """grain_prob=1: every example that is not a degraded negative shows its last image with faint noise;
    sources and degraded images are as rendered, and the answers do not change."""
    from harness.scorers.tiny_judge import _loss

    class Recorder:  # stands in for the scorer: keeps what the judge would be shown
        def yes_no_logits(self, slots, questions):
            self.slots = [s.clone() for s in slots]
            return torch.zeros(len(questions), 2)

    pairs, _ = sample_examples(np.random.default_rng(0), 24, 0, degrade_prob=0.5)
    assert any(e.degrade for e in pairs) and not all(e.degrade for e in pairs)
    clean, grainy = Recorder(), Recorder()
    _loss(clean, pairs, np.random.default_rng(1), 32)
    _loss(grainy, pairs, np.random.default_rng(1), 32, None, grain_prob=1.0, grain_sigma=0.04)
    assert torch.equal(clean.slots[0], grainy.slots[0])  # the source is never touched
    diff = (grainy.slots[1] - clean.slots[1]).abs().flatten(1)
    for e, d in zip(pairs, diff):
        if e.degrade:
            assert d.max() == 0
        else:  # noise of sigma <= 0.04: well inside the oracle's per-channel tolerance on average
            assert 0 < d.mean() < 0.04
    from harness.scorers.augment import grain_batch  # the vision tower's pretraining batches

    imgs = clean.slots[1]
    assert torch.equal(grain_batch(imgs, 0.0, 0.04, np.random.default_rng(0)), imgs)
    noisy = grain_batch(imgs, 1.0, 0.04, np.random.default_rng(0))
    assert (noisy != imgs).flatten(1).any(1).all() and torch.equal(imgs, clean.slots[1])  # input kept
    assert "grain_prob" not in JudgeConfig(grain_prob=0.0).cache_key()  # off: judges cached before the option keep their key


def test_change_map_labels_and_gradient(tiny_cfg, tmp_path):
    """The dense pair target marks exactly the patches that differ, and its loss trains the LM."""
    import torch

    from harness.scorers.judge_config import JudgeConfig
    from harness.scorers.tiny_judge import change_cells, train_judge

    a = torch.zeros(2, 3, 32, 32)
    b = a.clone()
    b[0, 1, 9, 20] = 0.5  # one pixel in patch (row 1, col 2) of the 4x4 grid of 8 px patches
    b[1, :, 0:8, 0:8] = 0.03  # below the tolerance: no change
    cells = change_cells(a, b, 8)
    assert cells.shape == (2, 16)
    assert cells[0].nonzero().flatten().tolist() == [1 * 4 + 2] and cells[1].sum() == 0
    # a run with the loss on logs it and moves it; the option stays out of the cache key while off
    cfg = replace(tiny_cfg, steps=4, single_only_steps=0, pair_batch=8, lr=1e-2, change_aux_weight=1.0,
                  change_aux_layer=1)
    log = train_judge(cfg, tmp_path / "j", log=None)
    ch = np.array(log["history"], dtype=float)[:, 5]
    assert np.isfinite(ch).all() and ch[-1] != ch[0]
    off = JudgeConfig(change_aux_weight=0.0).cache_key()  # judges cached before the option keep their key
    assert "change_aux_weight" not in off and "change_aux_layer" not in off
    assert cfg.cache_key()["change_aux_weight"] == 1.0 and cfg.cache_key()["change_aux_layer"] == 1


def test_violation_map_marks_changes_outside_the_named_object():
    """The identity question per patch: a correct edit changes only allowed pixels; an extra change to
    an untouched object shows up exactly where that object was."""
    from harness.scorers.tiny_judge import (
        Case,
        allowed_objects,
        change_cells,
        violation_cells,
    )
    from harness.world.edits import sample_edit
    from harness.world.render import render_batch
    from harness.world.scene import Obj, Scene

    src = Scene("white", (Obj("circle", "red", "medium", 1, 1), Obj("square", "blue", "medium", 4, 4)))
    e = next(e for seed in range(100) if (e := sample_edit(src, "color_alter", np.random.default_rng(seed)))
             and e.spec["index"] == 0)  # recolour the circle
    case = Case(src, "color_alter", e.spec, e.target, e.instruction, e.object_name)
    extra = Scene("white", (e.target.objects[0], Obj("square", "green", "medium", 4, 4)))  # + recoloured square
    outs = [e.target, extra]
    imgs = render_batch([src, src], 32), render_batch(outs, 32)
    v, w = violation_cells(imgs[0], imgs[1], [allowed_objects(case, o) for o in outs], 8)
    assert w.tolist() == [1.0, 1.0]
    assert v[0].sum() == 0 and change_cells(imgs[0][:1], imgs[1][:1], 8).sum() > 0  # changed, all allowed
    square_only = change_cells(render_batch([Scene("white", (src.objects[1],))], 32),
                               render_batch([Scene("white", (extra.objects[1],))], 32), 8)[0]
    assert torch.equal(v[1], square_only)  # the violation is the square's patches, nothing else
    bg = Case(src, "background_change", {"background": "black"}, src, "x", "")
    assert allowed_objects(bg, src) is None  # not defined: every background pixel may change


def test_difference_image_is_saved_with_the_judge_and_prompts_three_images(tiny_cfg, tmp_path):
    """With difference_image the judge trains on, saves and is reloaded with a third image
    0.5 + (edited - source) / 2; the pixel gradient reaches the edited image through it too."""
    from harness.scorers.scorer import SCORER_OPTIONS, HFVLMScorer, difference_slot
    from harness.scorers.tiny_judge import train_judge

    cfg = replace(tiny_cfg, steps=3, single_only_steps=0, pair_batch=4, change_aux_weight=1.0,
                  change_aux_layer=1, difference_image=True, change_crops=False)
    log = train_judge(cfg, tmp_path / "j", log=None)
    assert np.isfinite(np.array(log["history"], dtype=float)[:, [0, 5]]).all()  # pair loss and change map
    assert json.loads((tmp_path / "j" / SCORER_OPTIONS).read_text()) == {"difference_image": True}
    scorer = HFVLMScorer(str(tmp_path / "j"))
    assert scorer.difference_image
    src, out = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    ids = scorer.model_inputs([src, out], ["is the rest unchanged"] * 2)["input_ids"]
    single = scorer.model_inputs([src], ["is the rest unchanged"] * 2)["input_ids"]
    image_tokens = lambda x: int((x[0] == scorer._image_token_id()).sum())  # noqa: E731
    assert image_tokens(ids) == 3 * image_tokens(single)
    assert torch.equal(difference_slot(src, src), torch.full_like(src, 0.5))
    # the third image is what the model sees: scoring [src, out] equals scoring with it spelled out
    scorer.difference_image = False
    explicit = scorer.yes_no_logits([src, out, difference_slot(src, out)], ["is the rest unchanged"] * 2)
    scorer.difference_image = True
    out.requires_grad_(True)
    lg = scorer.yes_no_logits([src, out], ["is the rest unchanged"] * 2)
    assert torch.allclose(lg, explicit, atol=1e-5)
    (lg[:, 0] - lg[:, 1]).sum().backward()
    assert out.grad.abs().sum() > 0
    assert "difference_image" not in JudgeConfig(difference_image=False).cache_key()  # judges cached before it
    assert cfg.cache_key()["difference_image"]


def test_change_crops_show_each_image_only_where_the_pair_differs():
    from harness.scorers.scorer import change_crop_slots
    from harness.world.render import render_batch
    from harness.world.scene import Obj, Scene

    src = render_batch([Scene("white", (Obj("circle", "red", "medium", 2, 2), Obj("square", "blue", "medium", 5, 5)))], 32)
    out = render_batch([Scene("white", (Obj("circle", "red", "medium", 2, 2), Obj("square", "green", "medium", 5, 5)))], 32)
    faint = (out + 0.05 * torch.randn(out.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    before, after = change_crop_slots(src, out)
    changed = (out - src).abs().amax(1, keepdim=True) > 0.2
    assert changed.any()
    # where the square changed colour: the old (blue) and the new (green) square; the circle is hidden
    assert torch.allclose(before[changed.expand_as(src)], src[changed.expand_as(src)], atol=1e-6)
    assert torch.allclose(after[changed.expand_as(out)], out[changed.expand_as(out)], atol=1e-6)
    assert torch.all(before[~changed.expand_as(src)] == 0.5) and torch.all(after[~changed.expand_as(out)] == 0.5)
    # an unchanged pair and faint noise give blank crops; the crops carry the edited image's gradient
    assert torch.all(change_crop_slots(src, src)[1] == 0.5)
    assert (change_crop_slots(out, faint)[1] - 0.5).abs().mean() < 0.01
    edited = out.clone().requires_grad_(True)
    change_crop_slots(src, edited)[1].sum().backward()
    assert edited.grad[changed.expand_as(out)].abs().min() > 0


def test_change_crops_are_saved_with_the_judge_and_prompt_five_images(tiny_cfg, tmp_path):
    from harness.scorers.scorer import SCORER_OPTIONS, HFVLMScorer, change_crop_slots, difference_slot
    from harness.scorers.tiny_judge import train_judge

    cfg = replace(tiny_cfg, steps=2, single_only_steps=0, pair_batch=4, difference_image=True, change_crops=True,
                  object_crops=False)
    train_judge(cfg, tmp_path / "j", log=None)
    assert json.loads((tmp_path / "j" / SCORER_OPTIONS).read_text()) == {"difference_image": True, "change_crops": True}
    scorer = HFVLMScorer(str(tmp_path / "j"))
    src, out = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    q = ["is the rest unchanged"] * 2
    ids = scorer.model_inputs([src, out], q)["input_ids"]
    single = scorer.model_inputs([src], q)["input_ids"]
    image_tokens = lambda x: int((x[0] == scorer._image_token_id()).sum())  # noqa: E731
    assert image_tokens(ids) == 5 * image_tokens(single)
    lg = scorer.yes_no_logits([src, out], q)
    scorer.difference_image = scorer.change_crops = False
    explicit = scorer.yes_no_logits([src, out, difference_slot(src, out), *change_crop_slots(src, out)], q)
    assert torch.allclose(lg, explicit, atol=1e-5)
    assert "change_crops" not in JudgeConfig(change_crops=False).cache_key()  # judges cached before it stay valid
    assert cfg.cache_key()["change_crops"]


@pytest.mark.parametrize("text,match", [('{"diff": true}', "diff.*difference_image"),
                                        ("{not json", "scorer_options.json: not valid JSON"),
                                        ("[1]", "scorer_options.json: expected a JSON object")])
def test_bad_scorer_options_file_is_named(tiny_saved, text, match):
    from harness.scorers.scorer import SCORER_OPTIONS, HFVLMScorer

    d = tiny_saved[0]
    (d / SCORER_OPTIONS).write_text(text)
    try:
        with pytest.raises(ValueError, match=match):
            HFVLMScorer(str(d))
    finally:
        (d / SCORER_OPTIONS).unlink()


def test_size_change_questions_answer_from_the_scene_graphs():
    from harness.scorers.tiny_judge import build_tokenizer, size_change_examples
    from harness.world.palette import SIZE_ORDER

    tok = build_tokenizer()
    pairs = size_change_examples(np.random.default_rng(5), 120)
    assert {e.variant for e in pairs} == {"bigger", "smaller", "same"}
    for e in pairs:
        assert tok.unk_token_id not in tok.encode(e.question + " " + e.variant, add_special_tokens=False)
        color, shape = e.question.split()[-4:-2]
        (a,), (b,) = ([o for o in s.objects if (o.color, o.shape) == (color, shape)] for s in e.images)
        step = SIZE_ORDER.index(b.size) - SIZE_ORDER.index(a.size)
        assert e.variant == ("bigger" if step > 0 else "smaller" if step < 0 else "same")


def test_size_change_questions_train_on_the_pair_prompt(tiny_cfg, tmp_path, monkeypatch):
    from harness.scorers import tiny_judge
    from harness.scorers.scorer import HFVLMScorer

    seen = []
    real = HFVLMScorer.pixel_inputs
    monkeypatch.setattr(HFVLMScorer, "pixel_inputs", lambda self, slots: seen.append(len(slots)) or real(self, slots))
    cfg = replace(tiny_cfg, steps=2, single_only_steps=1, pair_batch=2, single_batch=2, vqa_batch=2,
                  size_change_batch=2, change_crops=True)
    log = tiny_judge.train_judge(cfg, tmp_path / "j", log=None)
    assert 4 in seen  # source, edited and their two change crops, as the Yes/No pair questions see them
    hist = np.array(log["history"], dtype=float)
    assert np.isfinite(hist[:, 4]).all()
    off = JudgeConfig().cache_key()
    assert "size_change_batch" not in off  # judges cached before it stay valid
    assert cfg.cache_key()["size_change_batch"] == 2


@pytest.mark.parametrize("bg", ["white", "gray", "black"])
@pytest.mark.parametrize("new", [{"size": "large"}, {"shape": "square"}, {"x": 3}])
def test_object_crops_show_the_old_and_the_new_object_whole(bg, new):
    from harness.scorers.scorer import change_crop_slots
    from harness.world.palette import COLORS, rgb01
    from harness.world.render import render_batch
    from harness.world.scene import Obj, Scene

    render = lambda *objs: render_batch([Scene(bg, objs)], 32)
    old, other = Obj("circle", "red", "small", 2, 2), Obj("square", "blue", "medium", 5, 5)
    edited_obj = replace(old, **new)
    src, out = render(old, other), render(edited_obj, other)
    # an object's solid pixels (its anti-aliased rim, a blend with the background, is not grown into)
    drawn = lambda o: (render(o) - torch.tensor(rgb01(COLORS[o.color]))[:, None, None]).abs().amax(1, keepdim=True) < 0.02
    whole = drawn(old) | drawn(edited_obj)
    before, after = change_crop_slots(src, out, objects=True)
    shown = lambda crop, img: ((crop - img).abs() < 1e-6).all(1, keepdim=True) & ((crop - 0.5).abs() > 1e-6).any(1, keepdim=True)
    # the new object whole in the edited crop (the plain crop shows only where the two differ)
    assert (shown(after, out) & drawn(edited_obj)).sum() >= 0.95 * drawn(edited_obj).sum()
    assert (shown(change_crop_slots(src, out)[1], out) & drawn(edited_obj)).sum() < 0.9 * drawn(edited_obj).sum()
    assert (shown(before, src) & drawn(old)).sum() >= 0.95 * drawn(old).sum()
    # the untouched square stays hidden, in both crops
    assert not (shown(before, src) & drawn(other) & ~whole).any() and not (shown(after, out) & drawn(other)).any()


def test_object_crops_leave_a_background_change_alone_and_keep_the_gradient():
    from harness.scorers.scorer import change_crop_slots
    from harness.world.render import render_batch
    from harness.world.scene import Obj, Scene

    objs = (Obj("circle", "red", "small", 2, 2), Obj("square", "blue", "medium", 5, 5))
    src, out = render_batch([Scene("white", objs)], 32), render_batch([Scene("beige", objs)], 32)
    for plain, grown in zip(change_crop_slots(src, out), change_crop_slots(src, out, objects=True)):
        assert torch.equal(plain, grown)  # the objects stay grey holes: they did not change
    moved = render_batch([Scene("white", (replace(objs[0], x=3), objs[1]))], 32).requires_grad_(True)
    change_crop_slots(src, moved, objects=True)[1].sum().backward()
    assert moved.grad.abs().sum() > 0
    # without change crops there is nothing to grow: the option drops out of the key (and the saved options)
    assert JudgeConfig(change_crops=False).cache_key() == JudgeConfig(change_crops=False, object_crops=False).cache_key()
    assert "object_crops" not in JudgeConfig(object_crops=False).cache_key() and JudgeConfig().cache_key()["object_crops"]


def test_object_crops_are_saved_with_the_judge_and_prompt_its_pairs(tiny_cfg, tmp_path):
    from harness.scorers.scorer import SCORER_OPTIONS, HFVLMScorer, change_crop_slots
    from harness.scorers.tiny_judge import train_judge
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
