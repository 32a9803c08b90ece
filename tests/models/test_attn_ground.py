"""Cross-attention grounding of the teacher: exact object masks, a loss that is 0 for perfectly grounded
attention, gradients into the attention and the text encoder, and a plain model after training."""
import json

import numpy as np
import pytest
import torch

from harness.models.attn_ground import (
    AttnGround,
    RecordingCrossAttnProcessor,
    grounding_targets,
)
from harness.models.edit_model import EditModel
from harness.models.teacher import TeacherConfig, scene_batch, train_teacher
from harness.world.render import object_mask
from harness.world.scene import Obj, Scene
from harness.world.text import caption


def _tiny_unet():
    torch.manual_seed(0)
    m = EditModel.tiny_unet(block_channels=(8, 16, 16), heads=2, text_hidden=16, text_layers=1)
    torch.nn.init.normal_(m.transformer.conv_out.weight, std=0.1)  # non-zero output, to compare processors
    return m


def test_targets_put_each_object_mask_on_its_shape_word_and_the_rest_on_background():
    a, b = Obj("circle", "red", "large", 1, 1), Obj("square", "blue", "small", 5, 6)
    scene = Scene("white", (b, a))
    text = caption(scene)  # "a red circle and a blue square on a white background"
    idx, masks = grounding_targets([scene, scene], [text, ""], 32)
    words = text.split()
    assert [words[i] for i in idx[0].tolist()] == ["circle", "square", "background"]
    assert torch.equal(masks[0, 0], torch.from_numpy(object_mask(a, 32).astype(np.float32)))
    assert torch.equal(masks[0, 1], torch.from_numpy(object_mask(b, 32).astype(np.float32)))
    assert torch.equal(masks[0, 2], 1 - masks[0, 0] - masks[0, 1])  # the two objects do not overlap
    assert (idx[1] == -1).all()  # a dropped caption (CFG) has no targets


def test_recording_processor_is_the_default_attention():
    m = _tiny_unet()
    _, caps, _ = scene_batch(np.random.default_rng(0), 4, TeacherConfig())
    x, t = torch.randn(4, 3, 32, 32), torch.rand(4)
    with torch.no_grad():
        before = m.velocity(x, t, caps)
        ground = AttnGround(m.transformer)
        during = m.velocity(x, t, caps)
        ground.remove()
        after = m.velocity(x, t, caps)
    assert torch.allclose(before, during, atol=1e-5)
    assert torch.equal(before, after)
    procs = [type(p) for p in m.transformer.attn_processors.values()]
    assert RecordingCrossAttnProcessor not in procs  # remove() restored the original processors


def test_loss_is_zero_for_grounded_attention_and_trains_attention_and_text():
    m = _tiny_unet()
    ground = AttnGround(m.transformer)
    a = Obj("circle", "red", "large", 2, 2)
    scene = Scene("white", (a,))
    text = caption(scene)
    idx, masks = grounding_targets([scene], [text], 32)
    m.velocity(torch.randn(1, 3, 32, 32), torch.full((1,), 0.3), [text])
    n_tokens = next(iter(ground._rec.values())).probs.shape[-1]
    # every position attends only to the word of what covers most of it: token and pixel loss ~ 0
    for rec in ground._rec.values():
        g = round(rec.probs.shape[1] ** 0.5)
        share = torch.nn.functional.adaptive_avg_pool2d(masks, g).flatten(2)[0]  # [J, Q]
        owner = idx[0][share.argmax(0)]
        rec.probs = torch.nn.functional.one_hot(owner, n_tokens).float()[None]
    grounded = ground.loss([scene], [text], torch.zeros(1), 32)
    m.velocity(torch.randn(1, 3, 32, 32), torch.full((1,), 0.3), [text])
    for rec in ground._rec.values():  # attention spread evenly over the tokens
        rec.probs = torch.full_like(rec.probs, 1.0 / n_tokens)
    uniform = ground.loss([scene], [text], torch.zeros(1), 32)
    # cells partly covered by the object keep some token loss; far below uniform attention
    assert grounded < 0.2 * uniform

    with pytest.raises(RuntimeError, match="forward"):  # probabilities are consumed by loss()
        ground.loss([scene], [text], torch.zeros(1), 32)
    imgs, caps, scenes = scene_batch(np.random.default_rng(1), 4, TeacherConfig())
    m.velocity(m.encode_image(imgs), torch.full((4,), 0.3), caps)
    loss = ground.loss(scenes, caps, torch.full((4,), 0.3), 32)
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    to_k = [p.grad for n, p in m.transformer.named_parameters() if n.endswith("attn2.to_k.weight")]
    assert to_k and all(g is not None and g.abs().sum() > 0 for g in to_k)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.text_encoder.parameters())
    m.velocity(m.encode_image(imgs), torch.ones(4), caps)
    assert ground.loss(scenes, caps, torch.ones(4), 32) == 0  # t = 1: weighted by 1 - t
    m.velocity(m.encode_image(imgs), torch.ones(4), caps)
    assert ground.loss(scenes, caps, torch.ones(4), 32, t_weighting="none") > 0


def test_dit_is_refused_and_training_saves_a_plain_unet(tmp_path):
    dit = EditModel.tiny_sd3(patch_size=4, num_layers=1, num_heads=2, head_dim=8, caption_projection_dim=16,
                             text_hidden=16, text_layers=1)
    with pytest.raises(ValueError, match="attn_ground_weight=0"):
        AttnGround(dit.transformer)
    cfg = TeacherConfig(unet_channels=(8, 16, 16), unet_heads=2, text_hidden=16, text_layers=1, steps=3,
                        batch_size=4, attn_ground_weight=0.1, text_pretrain_steps=0, ema_decay=0.0)
    train_teacher(cfg, tmp_path / "t", progress=False)
    assert json.loads((tmp_path / "t" / "train_log.json").read_text())["config"]["attn_ground_weight"] == 0.1
    loaded = EditModel.from_pretrained(tmp_path / "t")
    assert RecordingCrossAttnProcessor not in [type(p) for p in loaded.transformer.attn_processors.values()]
    assert "attn_ground_weight" not in TeacherConfig(attn_ground_weight=0.0).cache_key()  # older teachers' keys
    assert cfg.cache_key()["attn_ground_weight"] == 0.1
