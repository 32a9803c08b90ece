import pytest
import torch

from harness.scorers.scorer import HFVLMScorer, clip_preprocess

Q = ["the second image is the first one after the request : "
     "make the red circle blue . was the request done ? Answer Yes or No .",
     "is the background white ? Answer Yes or No ."]


def test_round_trip_identical_logits(tiny_saved, images):
    d, model, proc = tiny_saved
    live = HFVLMScorer.from_parts(model, proc.tokenizer, proc.image_processor, proc)
    loaded = HFVLMScorer(str(d))
    x1, x2 = images(3, 1), images(3, 2)
    qs = [Q[0], Q[1], Q[0] + " ."]
    a = live.yes_no_logits([x1, x2], qs)
    b = loaded.yes_no_logits([x1, x2], qs)
    assert a.shape == (3, 2)
    assert torch.equal(a, b)
    # the processor's text side survived too
    assert loaded.processor.chat_template == proc.chat_template
    assert loaded._ids(Q[1], 1, 64) == live._ids(Q[1], 1, 64)


def test_padding_does_not_change_scores(tiny_scorer, images):
    x = images(2, 3)
    both = tiny_scorer.yes_no_logits(x, [Q[1], Q[1] + " . . . ."])
    alone = tiny_scorer.yes_no_logits(x[:1], [Q[1]])
    assert torch.allclose(both[:1], alone, atol=1e-5)


@pytest.mark.parametrize("k", [1, 2])
def test_gradient_reaches_every_sample_not_the_model(tiny_scorer, images, k):
    slots = [images(4, s).requires_grad_(True) for s in range(k)]
    lg = tiny_scorer.yes_no_logits(slots, [Q[0]] * 4)
    (lg[:, 0] - lg[:, 1]).sum().backward()
    for s in slots:
        norms = s.grad.flatten(1).norm(dim=1)
        assert (norms > 0).all(), norms
    assert all(not p.requires_grad and p.grad is None for p in tiny_scorer.model.parameters())


def test_vlm_loss_and_reward(tiny_scorer, images):
    x = images(2, 5)
    lg = tiny_scorer.yes_no_logits(x, Q[1:] * 2)
    p = tiny_scorer.reward(x, Q[1:] * 2)
    assert torch.allclose(p, torch.softmax(lg, -1)[:, 0])
    loss = tiny_scorer.vlm_loss(x, Q[1:] * 2, [True, False])
    assert torch.allclose(loss, torch.stack([-torch.log(p[0]), -torch.log(1 - p[1])]), atol=1e-5)
    v = tiny_scorer.judge(x, Q[1:] * 2)
    assert v[0]["answer"] in ("Yes", "No") and v[0]["parse_ok"]


def test_torch_preprocessing_matches_hf_processor_without_resize(tiny_scorer, images):
    x = images(3, 7)
    u8 = (x * 255).round().to(torch.uint8).numpy().transpose(0, 2, 3, 1)
    ref = tiny_scorer.image_processor(list(u8), return_tensors="pt")["pixel_values"]
    ours = clip_preprocess(x, tiny_scorer.image_processor)
    assert ref.shape == ours.shape
    assert torch.equal(ref, ours)


def test_torch_preprocessing_resizes_when_sizes_differ(tiny_scorer, images):
    x = images(2, 8, res=48).requires_grad_(True)
    out = clip_preprocess(x, tiny_scorer.image_processor)
    assert out.shape == (2, 3, 32, 32)
    out.sum().backward()
    assert x.grad.abs().sum() > 0
