import json

import pytest
import torch

from harness.models.edit_model import EditModel, build_tiny_latent_model
from harness.models.losses import flow_matching_loss
from harness.models.samplers import euler_sample, shift_t, timesteps
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
