"""The teacher's dense scene loss: read from the denoiser's cell-grid features, weighted by 1 - t."""
import json

import numpy as np
import pytest
import torch

from harness.embedded.teacher.config import TeacherConfig
from harness.embedded.teacher.scene_aux import SceneAux
from harness.embedded.teacher.train import scene_batch, train_teacher
from harness.models.edit_model import EditModel


def test_scene_loss_trains_the_features_and_vanishes_at_pure_noise():
    torch.manual_seed(0)
    m = EditModel.tiny_unet(block_channels=(8, 16, 16), heads=2, text_hidden=16, text_layers=1)
    aux = SceneAux(m.transformer)
    imgs, caps, scenes = scene_batch(np.random.default_rng(0), 4, TeacherConfig())
    with pytest.raises(RuntimeError, match="forward"):
        aux.loss(scenes, torch.zeros(4))
    x = m.encode_image(imgs)
    m.velocity(x, torch.full((4,), 0.3), caps)
    loss = aux.loss(scenes, torch.full((4,), 0.3))
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    trunk = [p.grad for n, p in m.transformer.named_parameters() if p.grad is not None]
    assert trunk and any(g.abs().sum() > 0 for g in trunk)  # the loss shapes the denoiser's features
    m.velocity(x, torch.ones(4), caps)
    assert aux.loss(scenes, torch.ones(4)) == 0  # t = 1: the layout cannot be read from the input
    m.velocity(x, torch.ones(4), caps)
    assert aux.loss(scenes, torch.ones(4), t_weighting="none") > 0  # unless asked to learn the prior there
    aux.remove()
    m.velocity(x, torch.full((4,), 0.3), caps)
    with pytest.raises(RuntimeError):  # the hook is gone: nothing is captured after remove()
        aux.loss(scenes, torch.zeros(4))


def test_scene_loss_needs_a_unet():
    torch.manual_seed(0)
    dit = EditModel.tiny_sd3(patch_size=4, num_layers=1, num_heads=2, head_dim=8, caption_projection_dim=16,
                             text_hidden=16, text_layers=1)
    with pytest.raises(ValueError, match="UNet"):
        SceneAux(dit.transformer)


def test_teacher_training_with_scene_loss_and_text_pretraining_saves_a_plain_model(tmp_path):
    cfg = TeacherConfig(unet_channels=(8, 16, 16), unet_heads=2, text_hidden=16, text_layers=1,
                        steps=3, batch_size=4, scene_aux_weight=0.1, text_pretrain_steps=2, ema_decay=0.0)
    train_teacher(cfg, tmp_path / "t", progress=False)
    log = json.loads((tmp_path / "t" / "train_log.json").read_text())
    assert set(log["text_pretrain"]) == {"loss", "token", "pairs", "bg", "count"}
    loaded = EditModel.from_pretrained(tmp_path / "t")  # no auxiliary head or hook in the saved teacher
    assert not loaded.transformer.mid_block._forward_hooks
    assert "scene_aux_weight" not in TeacherConfig(scene_aux_weight=0.0).cache_key()  # teachers cached before it
    assert cfg.cache_key()["scene_aux_weight"] == 0.1
