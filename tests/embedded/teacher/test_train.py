"""The teacher trains, is cached by config, and is an EditModel the editors start from."""
import dataclasses

import numpy as np
import pytest
import torch

from harness.embedded.teacher import train as train_mod
from harness.embedded.teacher.cache import load_or_train_teacher
from harness.embedded.teacher.config import TeacherConfig
from harness.embedded.teacher.train import build_teacher_model, scene_batch
from harness.models.edit_model import EditModel
from harness.models.losses import flow_matching_loss

PROMPTS = ["a red circle and a blue square on a white background", ""]
TINY = dict(unet_channels=(8, 16, 16), unet_heads=2, text_hidden=32, text_layers=1, text_pretrain_steps=0)


def test_tiny_teacher_training_lowers_loss_and_is_cached(monkeypatch):
    cfg = TeacherConfig(**TINY, steps=40, batch_size=8, lr=1e-2, warmup_steps=5, ema_decay=0.0)
    calls = []
    real_train = train_mod.train_teacher
    monkeypatch.setattr(train_mod, "train_teacher",
                        lambda c, d, progress=True: calls.append(1) or real_train(c, d, progress=False))
    imgs, caps, _ = scene_batch(np.random.default_rng(99), 16, cfg)  # a fixed evaluation batch
    g = torch.Generator().manual_seed(5)
    x0 = imgs * 2 - 1
    noise, t = torch.randn(x0.shape, generator=g), torch.rand(16, generator=g)

    def loss_of(model):
        with torch.no_grad():
            return float(flow_matching_loss(model.eval(), x0, caps, noise, t))

    loss0 = loss_of(build_teacher_model(cfg))
    trained = load_or_train_teacher(cfg, progress=False)
    assert calls == [1]
    loss1 = loss_of(trained)
    assert loss1 < 0.8 * loss0, (loss0, loss1)
    assert not any(p.requires_grad for p in trained.parameters())
    again = load_or_train_teacher(cfg, progress=False)
    assert calls == [1]  # reused the cache, no training
    assert loss_of(again) == loss1
    load_or_train_teacher(dataclasses.replace(cfg, seed=1, steps=1), progress=False)
    assert calls == [1, 1]  # a different config is a different cache entry


def test_the_unet_teacher_is_an_edit_model_the_editor_starts_from(tmp_path):
    """Text changes its output, the editor built from it starts as the teacher (zero reference inputs of
    conv_in) and learns from the reference, and it round-trips from_pretrained."""
    cfg = TeacherConfig(unet_channels=(8, 16), unet_heads=2, text_hidden=32, text_layers=1)
    cfg.validate()
    teacher = build_teacher_model(cfg).eval()
    torch.nn.init.normal_(teacher.transformer.conv_out.weight, std=0.1)  # not the zero init: outputs must differ
    assert teacher.kind == "UNet2DConditionModel" and not teacher.accepts_ref
    heads = {m.heads for m in teacher.transformer.modules() if type(m).__name__ == "Attention"}
    assert heads == {2}  # unet_heads is the number of heads (diffusers calls it attention_head_dim)
    g = torch.Generator().manual_seed(0)
    x, ref = torch.randn(2, 3, 32, 32, generator=g), torch.randn(2, 3, 32, 32, generator=g)
    with torch.no_grad():
        v = teacher.velocity(x, 0.5, PROMPTS)
        assert not torch.allclose(v, teacher.velocity(x, 0.5, ["a blue diamond on a black background"] * 2))
    editor = EditModel.from_teacher(teacher, "channel")
    with torch.no_grad():
        assert torch.equal(editor.velocity(x, 0.5, PROMPTS, ref=ref), v)
    ((editor.velocity(x, 0.5, PROMPTS, ref=ref) - ref) ** 2).mean().backward()
    assert editor.transformer.conv_in.weight.grad[:, 3:].abs().sum() > 0
    with pytest.raises(ValueError, match="token"):
        EditModel.from_teacher(teacher, "token")
    editor.save_pretrained(tmp_path)
    back = EditModel.from_pretrained(tmp_path).eval()
    assert back.kind == "UNet2DConditionModel" and back.accepts_ref
    with torch.no_grad():
        torch.testing.assert_close(back.velocity(x, 0.3, PROMPTS, ref=ref),
                                   editor.eval().velocity(x, 0.3, PROMPTS, ref=ref))


def test_the_untrained_teacher_predicts_zero_velocity():
    model = build_teacher_model(TeacherConfig(unet_channels=(8, 16), text_hidden=32, text_layers=1))
    with torch.no_grad():
        assert model.velocity(torch.randn(2, 3, 32, 32), 0.5, PROMPTS).abs().max() == 0


def test_object_count_weights_set_how_crowded_the_teacher_s_scenes_are():
    def counts(weights, n=600):
        _, caps, scenes = scene_batch(np.random.default_rng(3), n, TeacherConfig(object_count_weights=weights))
        assert all(c for c in caps)
        return np.bincount([len(s.objects) for s in scenes], minlength=4)[1:] / n

    assert counts((0.0, 0.0, 1.0))[2] > 0.95  # all three objects whenever they fit
    assert counts((1.0, 0.0, 0.0))[0] == 1.0
    crowded, uniform = counts((1.0, 2.0, 3.0)), counts(())
    np.testing.assert_allclose(uniform, [1 / 3] * 3, atol=0.06)
    np.testing.assert_allclose(crowded, [1 / 6, 2 / 6, 3 / 6], atol=0.06)


def test_a_probe_sees_the_ema_and_leaves_the_training_stream_alone(tmp_path):
    """Probing swaps the EMA weights in and back: the saved teacher is the same with or without probes."""
    from safetensors.torch import load_file

    cfg = TeacherConfig(**TINY, steps=4, batch_size=2, warmup_steps=1, ema_decay=0.9, scene_aux_weight=0.1)
    seen = []
    train_mod.train_teacher(cfg, tmp_path / "probed", progress=False, probe_every=2,
                            probe=lambda step, s, model: seen.append((step, model.training)))
    train_mod.train_teacher(cfg, tmp_path / "plain", progress=False)
    assert seen == [(2, False), (4, False)]
    part = "transformer/diffusion_pytorch_model.safetensors"
    a, b = load_file(tmp_path / "probed" / part), load_file(tmp_path / "plain" / part)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
