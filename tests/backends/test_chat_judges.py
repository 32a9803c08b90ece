"""Judges llava_onevision and internvl on tiny random HF-native checkpoints: torch preprocessing against the
PIL image processors, answer ids, and a Yes/No logit difference whose gradient reaches the edited pixels only."""

import pytest
import torch

from harness.scorers.chat_judges import InternVLScorer, LlavaOnevisionScorer

KINDS = {"llava_onevision": LlavaOnevisionScorer, "internvl": InternVLScorer}


@pytest.fixture(scope="module", params=sorted(KINDS))
def judge(request, tmp_path_factory):
    from benchmarks.tiny_checkpoints import build_tiny_chat_judge

    return KINDS[request.param](str(build_tiny_chat_judge(tmp_path_factory.mktemp(request.param), request.param)))


def _theirs(judge, x, k):
    arr = [(im.permute(1, 2, 0) * 255).round().byte().numpy() for im in x]
    batch = [arr[i:i + k] for i in range(0, len(arr), k)] if isinstance(judge, LlavaOnevisionScorer) else arr
    pv = torch.as_tensor(judge.image_processor(images=batch, return_tensors="pt")["pixel_values"])
    return pv.reshape(len(arr), *pv.shape[-3:])


@pytest.mark.parametrize("size,tol", [(56, 1e-5), (64, 0.6)])  # exact at the vision size; resized: PIL vs torch
def test_preprocessing_matches_the_image_processor(judge, size, tol):
    x = torch.randint(0, 256, (4, 3, size, size)).float() / 255
    ours = judge.normalise(x)
    theirs = _theirs(judge, x, 2)
    assert ours.shape == theirs.shape and (ours - theirs).abs().max() < tol


def test_yes_no_gradient_reaches_the_edited_pixels_only(judge):
    tok = judge.tokenizer
    assert tok.decode([judge.yes_id]) == "Yes" and tok.decode([judge.no_id]) == "No"
    torch.manual_seed(0)
    source = torch.rand(2, 3, 56, 56)
    edited = torch.rand(2, 3, 56, 56, requires_grad=True)
    logits = judge.yes_no_logits([source, edited], ["was the request done ? Answer Yes or No .", "is it red ?"])
    assert logits.shape == (2, 2)
    (logits[:, 0] - logits[:, 1]).sum().backward()
    assert (edited.grad.flatten(1).norm(dim=1) > 0).all()
    assert all(p.grad is None for p in judge.model.parameters())
    p_yes = judge.reward([source, edited.detach()], ["is there a cat ?"] * 2)
    assert ((p_yes > 0) & (p_yes < 1)).all()
