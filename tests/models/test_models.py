import dataclasses
import json

import numpy as np
import pytest
import torch

from harness.models import teacher as teacher_mod
from harness.models.edit_model import EditModel, build_tiny_latent_model
from harness.models.samplers import euler_sample, shift_t, timesteps
from harness.models.teacher import (
    TeacherConfig,
    build_teacher_model,
    flow_matching_loss,
    load_or_train_teacher,
)
from harness.models.text_encoder import TextEncoder
from harness.world.text import TEMPLATES, vocabulary

PROMPTS = ["a red circle and a blue square on a white background", "", "remove the green triangle"]


def tiny_teacher(seed=0) -> EditModel:
    torch.manual_seed(seed)
    return EditModel.tiny_sd3(num_layers=1, num_heads=2, head_dim=16, caption_projection_dim=32,
                              text_hidden=32, text_layers=1, text_heads=2)


def test_tokenizer_covers_vocabulary_and_round_trips(tmp_path):
    torch.manual_seed(0)
    te = TextEncoder.build(hidden_size=32, num_layers=1, num_heads=2).eval()
    tok = te.tokenizer
    for w in vocabulary():
        ids = tok(w, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and ids[0] != tok.unk_token_id, w
    assert tok("xyzzy", add_special_tokens=False)["input_ids"] == [tok.unk_token_id]
    # every instruction template word is in the vocabulary
    for ts in TEMPLATES.values():
        for t in ts:
            words = [w for w in t.split() if not w.startswith("{")]
            assert tok.unk_token_id not in tok(" ".join(words))["input_ids"]
    te.save_pretrained(tmp_path)
    te2 = TextEncoder.from_pretrained(tmp_path).eval()
    assert te2.tokenizer(PROMPTS)["input_ids"] == tok(PROMPTS)["input_ids"]
    with torch.no_grad():
        a, p = te(PROMPTS)
        a2, p2 = te2(PROMPTS)
    assert a.shape == (3, te.max_length, 32) and p.shape == (3, 32)
    assert torch.equal(a, a2) and torch.equal(p, p2)
    # a prompt's encoding does not depend on its batch neighbours (fixed-length padding)
    with torch.no_grad():
        solo, _ = te(PROMPTS[:1])
    assert torch.allclose(solo[0], a[0], atol=1e-6)


def test_edit_model_round_trip(tmp_path):
    m = EditModel.from_teacher(tiny_teacher(), "channel").eval()
    with torch.no_grad():  # make the zero-initialised reference weights matter in the comparison
        m.transformer.pos_embed.proj.weight.normal_()
    m.save_pretrained(tmp_path)
    assert (tmp_path / "transformer" / "diffusion_pytorch_model.safetensors").exists()
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("*.pt"))
    m2 = EditModel.from_pretrained(tmp_path).eval()
    assert m2.config_dict() == m.config_dict() == json.loads((tmp_path / "edit_model.json").read_text())
    g = torch.Generator().manual_seed(0)
    x, ref = torch.randn(3, 3, 32, 32, generator=g), torch.randn(3, 3, 32, 32, generator=g)
    t = torch.tensor([0.1, 0.5, 0.9])
    with torch.no_grad():
        for r in (None, ref):
            assert (m.velocity(x, t, PROMPTS, ref=r) - m2.velocity(x, t, PROMPTS, ref=r)).abs().max() == 0


def test_editor_starts_as_teacher_then_learns_from_ref():
    teacher = tiny_teacher().eval()
    editor = EditModel.from_teacher(teacher, "channel")
    assert editor.accepts_ref and not teacher.accepts_ref
    assert not any(p.requires_grad for p in editor.text_encoder.parameters())
    assert {id(p) for p in editor.trainable_parameters()} == {id(p) for p in editor.transformer.parameters()}
    g = torch.Generator().manual_seed(1)
    x, ref, ref2 = (torch.randn(2, 3, 32, 32, generator=g) for _ in range(3))
    text = PROMPTS[:2]
    with torch.no_grad():
        v_t = teacher.velocity(x, 0.4, text)
        assert torch.equal(editor.velocity(x, 0.4, text, ref=ref), v_t)
        assert torch.equal(editor.velocity(x, 0.4, text), v_t)
    with pytest.raises(ValueError, match="no reference input"):
        teacher.velocity(x, 0.4, text, ref=ref)

    opt = torch.optim.AdamW(editor.trainable_parameters(), lr=1e-2)
    loss = ((editor.velocity(x, 0.4, text, ref=ref) - ref) ** 2).mean()  # target depends on ref
    loss.backward()
    w = editor.transformer.pos_embed.proj.weight
    assert w.grad[:, 3:].abs().sum() > 0
    opt.step()
    with torch.no_grad():
        assert not torch.allclose(editor.velocity(x, 0.4, text, ref=ref), editor.velocity(x, 0.4, text, ref=ref2))
        assert torch.equal(teacher.velocity(x, 0.4, text), v_t)  # the teacher was not touched


def test_latent_flux_contract(tmp_path):
    build_tiny_latent_model(tmp_path / "ckpt")
    m = EditModel.from_pretrained(tmp_path / "ckpt")
    assert m.kind == "FluxTransformer2DModel" and m.ref_mode == "token" and m.vae is not None
    pix = torch.rand(2, 3, 32, 32)
    z = m.encode_image(pix)
    assert z.shape == (2, 4, 16, 16)
    assert m.decode(z).shape == (2, 3, 32, 32)
    text = PROMPTS[:2]
    v0 = m.velocity(torch.randn_like(z), 0.5, text)
    v1 = m.velocity(torch.randn_like(z), 0.5, text, ref=z)
    assert v0.shape == v1.shape == z.shape
    assert m.velocity_cfg(z, 0.5, text, 2.0, ref=z).shape == z.shape
    # one flow-matching step on the editing objective changes the parameters
    before = [p.detach().clone() for p in m.trainable_parameters()]
    opt = torch.optim.AdamW(m.trainable_parameters(), lr=1e-3)
    noise, t = torch.randn_like(z), torch.tensor([0.3, 0.7])
    loss = flow_matching_loss(m, z.detach(), text, noise, t, ref=z.detach())
    assert torch.isfinite(loss)
    loss.backward()
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, m.trainable_parameters()))
    assert all(not p.requires_grad for p in m.vae.parameters())
    # channel-concat editors also work on Flux (packed features doubled, zero init)
    ed = EditModel.from_teacher(EditModel.from_pretrained(tmp_path / "ckpt", ref_mode="channel"), "channel")
    x = torch.randn_like(z)
    with torch.no_grad():
        assert torch.allclose(ed.velocity(x, 0.5, text, ref=z), ed.velocity(x, 0.5, text), atol=1e-6)


class ToyModel:
    """velocity(x_t, t) = (x_t - x0) / t, i.e. exactly eps - x0 on the straight path."""

    def __init__(self, x0):
        self.x0, self.calls = x0, 0

    def velocity(self, x, t, text, ref=None):
        self.calls += 1
        return (x - self.x0) / t

    def velocity_cfg(self, x, t, text, scale, ref=None, negative=""):
        return self.velocity(x, t, text, ref)


@pytest.mark.parametrize("steps,shift", [(1, 1.0), (4, 1.0), (7, 3.0)])
def test_euler_recovers_x0_and_counts_nfe(steps, shift):
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64), torch.randn(2, 3, 8, 8, generator=g,
                                                                                      dtype=torch.float64)
    toy = ToyModel(x0)
    out = euler_sample(toy, ["a", "b"], steps, noise, shift=shift)
    assert torch.allclose(out, x0, atol=1e-10)
    assert toy.calls == steps


def test_shift_and_timesteps():
    assert shift_t(torch.tensor(0.5), 3.0).item() == pytest.approx(0.75)
    ts = timesteps(5, 3.0)
    assert ts[0] == 1 and ts[-1] == 0 and torch.all(ts[1:] < ts[:-1])
    assert torch.equal(timesteps(4), torch.linspace(1, 0, 5, dtype=torch.float64))


def test_euler_cfg_on_real_model_runs():
    m = tiny_teacher().eval()
    with torch.no_grad():
        out = euler_sample(m, PROMPTS[:2], 2, torch.randn(2, 3, 32, 32), cfg_scale=3.0, shift=2.0)
    assert out.shape == (2, 3, 32, 32) and torch.isfinite(out).all()


def test_tiny_teacher_training_lowers_loss_and_is_cached(monkeypatch):
    cfg = TeacherConfig(backbone="sd3", text_pretrain_steps=0, steps=25, batch_size=8, lr=2e-3, warmup_steps=5,
                        ema_decay=0.0, num_layers=1,
                        num_heads=2, head_dim=16, caption_projection_dim=32, text_hidden=32, text_layers=1)
    calls = []
    real_train = teacher_mod.train_teacher
    monkeypatch.setattr(teacher_mod, "train_teacher",
                        lambda c, d, progress=True: calls.append(1) or real_train(c, d, progress=False))
    # fixed evaluation batch
    import numpy as np
    imgs, caps, _ = teacher_mod.scene_batch(np.random.default_rng(99), 16, cfg)
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
    other = dataclasses.replace(cfg, seed=1, steps=1)
    load_or_train_teacher(other, progress=False)
    assert calls == [1, 1]  # a different config is a different cache entry


def test_posterior_target_is_the_one_sample_target_where_the_caption_was_dropped():
    """x0_target = x0 gives exactly the one-sample loss; captioned rows get E[x0 | x_t], dropped rows x0."""
    import numpy as np

    from harness.world.posterior import posterior_mean

    cfg = TeacherConfig(backbone="sd3", text_pretrain_steps=0, num_layers=1, num_heads=2, head_dim=16,
                        caption_projection_dim=32, text_hidden=32,
                        text_layers=1, zero_init=False)
    model = build_teacher_model(cfg).eval()
    imgs, caps, scenes = teacher_mod.scene_batch(np.random.default_rng(4), 4, cfg)
    caps[1] = ""
    g = torch.Generator().manual_seed(6)
    x0 = imgs * 2 - 1
    noise, t = torch.randn(x0.shape, generator=g), torch.tensor([0.3, 0.6, 0.8, 0.95])
    with torch.no_grad():
        plain = flow_matching_loss(model, x0, caps, noise, t)
        torch.testing.assert_close(flow_matching_loss(model, x0, caps, noise, t, x0_target=x0), plain)
    target = teacher_mod._posterior_target(x0, noise, t, scenes, caps)
    assert torch.equal(target[1], x0[1])
    tb = t.reshape(-1, 1, 1, 1)
    torch.testing.assert_close(target[[0, 2, 3]], posterior_mean(((1 - tb) * x0 + tb * noise)[[0, 2, 3]],
                                                                 t[[0, 2, 3]], [scenes[i] for i in (0, 2, 3)]))
    assert not torch.allclose(target[3], x0[3], atol=0.05)  # at t = 0.95 the target is a posterior blur


def test_x_prediction_velocity_is_defined_by_the_predicted_sample(tmp_path):
    """prediction='sample': the transformer outputs x0 and v = (x_t - x0) / max(t, t_min), so the
    one-step prediction x_t - t v gives back exactly the transformer's output (t >= t_min)."""
    from harness.models.edit_model import X_PRED_T_MIN

    torch.manual_seed(0)
    model = EditModel.tiny_sd3(resolution=16, patch_size=4, num_layers=1, num_heads=2, head_dim=16,
                               caption_projection_dim=32, text_hidden=32, text_layers=1, prediction="sample")
    x_t, text = torch.randn(3, 3, 16, 16), ["a red circle on a white background"] * 3
    t = torch.tensor([0.01, 0.3, 1.0])
    with torch.no_grad():
        out = model._transformer_out(x_t, t, text, None)
        v = model.velocity(x_t, t, text)
    tb = t.clamp_min(X_PRED_T_MIN).reshape(-1, 1, 1, 1)
    torch.testing.assert_close(v, (x_t - out) / tb)
    torch.testing.assert_close(x_t[1:] - t[1:].reshape(-1, 1, 1, 1) * v[1:], out[1:], atol=1e-5, rtol=1e-5)
    model.save_pretrained(tmp_path)
    back = EditModel.from_pretrained(tmp_path)
    assert back.prediction == "sample"
    with torch.no_grad():
        torch.testing.assert_close(back.velocity(x_t, t, text), v)
    with pytest.raises(ValueError, match="prediction must be one of"):
        EditModel(model.transformer, model.text_encoder, prediction="eps")


def test_latent_teacher_trains_its_vae_and_round_trips(tmp_path):
    """latent_channels > 0: a world VAE is trained first, the DiT runs on its 8x8 latents (unit std
    after scaling), and the saved teacher (transformer + text encoder + vae) reloads identically."""
    from harness.models.teacher import TeacherConfig, train_teacher

    cfg = TeacherConfig(backbone="sd3", text_pretrain_steps=0, steps=2, batch_size=4, num_layers=1, num_heads=2,
                        head_dim=16, caption_projection_dim=32,
                        text_hidden=32, text_layers=1, warmup_steps=1, ema_decay=0.0, latent_channels=4,
                        patch_size=1, vae_blocks=(8, 8, 8), vae_steps=4, vae_batch=8)
    model = train_teacher(cfg, tmp_path, progress=False)
    assert model.vae is not None and model.channels == 4 and model.transformer.config.sample_size == 8
    log = json.loads((tmp_path / "train_log.json").read_text())
    assert {"vae_wall_s", "vae_pixels_within_0.1"} <= set(log)
    from harness.world.render import render_batch
    from harness.world.scene import random_scene

    rng = np.random.default_rng(0)
    imgs = render_batch([random_scene(rng) for _ in range(16)], 32)
    with torch.no_grad():
        z = model.encode_image(imgs)
        assert z.shape == (16, 4, 8, 8)
        assert 0.3 < float(z.std()) < 3.0  # scaling_factor set from the latents' std
        back = EditModel.from_pretrained(tmp_path)
        text = ["a red circle on a white background"] * 16
        torch.testing.assert_close(back.velocity(z, 0.5, text), model.velocity(z, 0.5, text))
        torch.testing.assert_close(back.decode(z), model.decode(z))
        assert back.decode(z).shape == (16, 3, 32, 32)


@pytest.mark.parametrize("bad,key", [({"latent_channels": -1}, "latent_channels"),
                                     ({"latent_channels": 4, "vae_blocks": ()}, "vae_blocks"),
                                     ({"latent_channels": 4, "resolution": 36, "vae_blocks": (8, 8, 8, 8)}, "downsampling"),
                                     ({"backbone": "sd3", "patch_size": 3}, "patch_size"),
                                     ({"prediction": "eps"}, "prediction"),
                                     ({"backbone": "dit"}, "backbone"),
                                     ({"backbone": "unet", "unet_channels": (8, 0)}, "unet_channels"),
                                     ({"backbone": "unet", "unet_attention_levels": 4}, "unet_attention_levels"),
                                     ({"backbone": "unet", "unet_heads": 5}, "unet_heads"),
                                     ({"backbone": "unet", "unet_channels": (8,) * 7}, "unet_channels"),
                                     ({"posterior_target": True, "latent_channels": 4, "patch_size": 1},
                                      "posterior_target"),
                                     ({"scene_aux_weight": -0.1}, "scene_aux_weight"),
                                     ({"latent_channels": 4}, "scene_aux_weight=0"),
                                     ({"scene_aux_t_weighting": "t"}, "scene_aux_t_weighting"),
                                     ({"text_pretrain_steps": -1}, "text_pretrain_steps"),
                                     ({"attn_ground_weight": -1.0}, "attn_ground_weight"),
                                     ({"backbone": "sd3", "attn_ground_weight": 0.1}, "attn_ground_weight=0"),
                                     ({"unet_attention_levels": 0, "scene_aux_weight": 0.0, "attn_ground_weight": 0.1},
                                      "unet_attention_levels"),
                                     ({"attn_ground_t_weighting": "t"}, "attn_ground_t_weighting"),
                                     ({"max_objects": 2}, "object_count_weights"),
                                     ({"object_count_weights": (1.0, -1.0, 1.0)}, "object_count_weights"),
                                     ({"object_count_weights": (0.0, 0.0, 0.0)}, "object_count_weights")])
def test_teacher_config_names_the_bad_key(bad, key):
    with pytest.raises(ValueError, match=key):
        TeacherConfig(**bad).validate()


def test_unet_backbone_is_an_edit_model_like_the_dit(tmp_path):
    """The conv UNet teacher: text changes its output, the editor built from it starts as the teacher
    (zero reference inputs of conv_in) and learns from the reference, and it round-trips from_pretrained."""
    cfg = TeacherConfig(backbone="unet", unet_channels=(8, 16), unet_heads=2, text_hidden=32, text_layers=1,
                        zero_init=False)
    cfg.validate()
    teacher = build_teacher_model(cfg).eval()
    assert teacher.kind == "UNet2DConditionModel" and not teacher.accepts_ref
    heads = {m.heads for m in teacher.transformer.modules() if type(m).__name__ == "Attention"}
    assert heads == {2}  # unet_heads is the number of heads (diffusers calls it attention_head_dim)
    g = torch.Generator().manual_seed(0)
    x, ref = torch.randn(2, 3, 32, 32, generator=g), torch.randn(2, 3, 32, 32, generator=g)
    with torch.no_grad():
        v = teacher.velocity(x, 0.5, PROMPTS[:2])
        assert not torch.allclose(v, teacher.velocity(x, 0.5, ["a blue diamond on a black background"] * 2))
    editor = EditModel.from_teacher(teacher, "channel")
    with torch.no_grad():
        assert torch.equal(editor.velocity(x, 0.5, PROMPTS[:2], ref=ref), v)
    ((editor.velocity(x, 0.5, PROMPTS[:2], ref=ref) - ref) ** 2).mean().backward()
    assert editor.transformer.conv_in.weight.grad[:, 3:].abs().sum() > 0
    with pytest.raises(ValueError, match="token"):
        EditModel.from_teacher(teacher, "token")
    editor.save_pretrained(tmp_path)
    back = EditModel.from_pretrained(tmp_path).eval()
    assert back.kind == "UNet2DConditionModel" and back.accepts_ref
    with torch.no_grad():
        torch.testing.assert_close(back.velocity(x, 0.3, PROMPTS[:2], ref=ref),
                                   editor.eval().velocity(x, 0.3, PROMPTS[:2], ref=ref))


def test_unet_teacher_zero_init_starts_at_zero_velocity():
    model = build_teacher_model(TeacherConfig(backbone="unet", unet_channels=(8, 16), text_hidden=32, text_layers=1))
    with torch.no_grad():
        assert model.velocity(torch.randn(2, 3, 32, 32), 0.5, PROMPTS[:2]).abs().max() == 0


def test_teacher_cache_key_leaves_out_added_options_at_their_neutral_default():
    """A harness upgrade that adds an option must not orphan the teachers users already trained."""
    from dataclasses import asdict

    from harness.models.teacher_config import ADDED_OPTIONS

    neutral = TeacherConfig(**ADDED_OPTIONS)
    key = neutral.cache_key()
    assert not set(ADDED_OPTIONS) & set(key)
    assert key == {k: v for k, v in asdict(neutral).items() if k not in ADDED_OPTIONS}
    assert TeacherConfig(posterior_target=True).cache_key()["posterior_target"] is True
    assert "object_count_weights" not in TeacherConfig(object_count_weights=[]).cache_key()  # a list, as JSON gives it
    # an option away from its neutral value (the new defaults) is part of the key
    assert TeacherConfig().cache_key()["scene_aux_weight"] == TeacherConfig().scene_aux_weight > 0


def test_object_count_weights_set_how_crowded_the_teacher_s_scenes_are():
    from harness.models.teacher import scene_batch

    def counts(weights, n=600):
        _, caps, scenes = scene_batch(np.random.default_rng(3), n, TeacherConfig(object_count_weights=weights))
        assert all(c for c in caps)
        return np.bincount([len(s.objects) for s in scenes], minlength=4)[1:] / n

    assert counts((0.0, 0.0, 1.0))[2] > 0.95  # all three objects whenever they fit
    assert counts((1.0, 0.0, 0.0))[0] == 1.0
    crowded, uniform = counts((1.0, 2.0, 3.0)), counts(())
    np.testing.assert_allclose(uniform, [1 / 3] * 3, atol=0.06)
    np.testing.assert_allclose(crowded, [1 / 6, 2 / 6, 3 / 6], atol=0.06)
