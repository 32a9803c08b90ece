"""The teacher's layout loss: per caption object, a distribution over cells that must match the exact posterior."""
import numpy as np
import pytest
import torch

from harness.models.edit_model import EditModel
from harness.models.layout_aux import LayoutAux
from harness.models.teacher import TeacherConfig, scene_batch, train_teacher
from harness.world.posterior import cell_posteriors


def _tiny_unet():
    torch.manual_seed(0)
    return EditModel.tiny_unet(block_channels=(8, 16, 16), heads=2, text_hidden=16, text_layers=1)


def test_layout_loss_is_the_kl_to_the_exact_cell_posterior_and_trains_the_features():
    m = _tiny_unet()
    aux = LayoutAux(m.transformer, dim=8)
    imgs, caps, scenes = scene_batch(np.random.default_rng(0), 4, TeacherConfig())
    x0 = m.encode_image(imgs)
    t = torch.full((4,), 0.6)
    x_t = 0.4 * x0 + 0.6 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    with pytest.raises(RuntimeError, match="forward"):
        aux.loss(x_t, t, scenes)
    m.velocity(x_t, t, caps)
    loss = aux.loss(x_t, t, scenes)
    loss.backward()
    # the closed form: with every key zero the head's distribution is uniform over the 64 cells, and
    # KL(p || uniform) = log 64 - H(p), averaged over the batch's objects
    m.velocity(x_t, t, caps)
    with torch.no_grad():
        aux.key.weight.zero_()
        aux.key.bias.zero_()
    uniform = aux.loss(x_t, t, scenes)
    posts = [p for ps in cell_posteriors(x_t, t, scenes) for p in ps]
    expect = np.mean([np.log(64) + float((p * p.clamp_min(1e-12).log()).sum()) for p in posts])
    assert uniform.item() == pytest.approx(expect, rel=1e-5)
    assert torch.isfinite(loss) and loss > 0
    trunk = [p.grad for p in m.transformer.parameters() if p.grad is not None]
    assert trunk and any(g.abs().sum() > 0 for g in trunk)  # the loss shapes the denoiser's features
    aux.remove()
    m.velocity(x_t, t, caps)
    with pytest.raises(RuntimeError):  # the hook is gone
        aux.loss(x_t, t, scenes)


def test_teacher_training_with_the_layout_loss_saves_a_plain_model(tmp_path):
    cfg = TeacherConfig(backbone="unet", unet_channels=(8, 16, 16), unet_heads=2, text_hidden=16, text_layers=1,
                        steps=3, batch_size=4, layout_aux_weight=0.3, text_pretrain_steps=0, ema_decay=0.0)
    train_teacher(cfg, tmp_path / "t", progress=False)
    loaded = EditModel.from_pretrained(tmp_path / "t")
    assert not loaded.transformer.mid_block._forward_hooks
    assert "layout_aux_weight" not in TeacherConfig().cache_key()  # teachers cached before it stay valid
    assert cfg.cache_key()["layout_aux_weight"] == 0.3


def test_layout_loss_needs_pixel_space():
    with pytest.raises(ValueError, match="layout_aux_weight"):
        TeacherConfig(layout_aux_weight=0.1, latent_channels=4, backbone="sd3", patch_size=1).validate()
