"""Judge qwen2_5_vl on a tiny random Qwen2.5-VL: torch preprocessing vs the image processor, answer ids,
and a Yes/No logit difference whose gradient reaches the edited image's pixels (and not the source's)."""

import pytest
import torch

from harness.scorers.qwen2_5_vl import Qwen25VLScorer, answer_token_id
from harness.scorers.scorer import qwen_preprocess


@pytest.fixture(scope="module")
def judge(qwen25vl_dir):
    return Qwen25VLScorer(str(qwen25vl_dir))


def _hf(ip, x):
    arr = [(im.permute(1, 2, 0) * 255).round().byte().numpy() for im in x]
    out = ip(images=arr, return_tensors="pt")
    return torch.as_tensor(out["pixel_values"]), torch.as_tensor(out["image_grid_thw"])


@pytest.mark.parametrize("size", [56, 84])
def test_preprocessing_matches_the_processor_exactly_without_resize(judge, size):
    x = torch.randint(0, 256, (2, 3, size, size)).float() / 255
    ours, (gh, gw) = qwen_preprocess(x, judge.image_processor)
    theirs, grid = _hf(judge.image_processor, x)
    assert torch.equal(grid[0], torch.tensor([1, gh, gw]))
    assert (ours - theirs).abs().max() < 1e-5


def test_preprocessing_with_a_resize_stays_within_the_measured_tolerance(judge):
    x = torch.randint(0, 256, (1, 3, 64, 64)).float() / 255  # smart-resized to 56: PIL vs torch bicubic
    ours, _ = qwen_preprocess(x, judge.image_processor)
    theirs, _ = _hf(judge.image_processor, x)
    assert ours.shape == theirs.shape
    assert (ours - theirs).abs().max() < 0.6  # reference §4.2: 0.297 on smooth images; noise is the worst case


def test_answer_ids_are_the_first_token_after_the_prompt(judge):
    tok = judge.tokenizer
    prompt = tok.decode(judge._ids("is it red ?", 1, 1))
    assert prompt.startswith("<|im_start|>system\nYou are a helpful assistant.") and prompt.endswith("assistant\n")
    assert tok.decode([judge.yes_id]) == "Yes" and tok.decode([judge.no_id]) == "No"
    assert answer_token_id(tok, "say :", " Yes") != judge.yes_id  # " Yes" is another token


def test_yes_no_gradient_reaches_the_edited_pixels_only(judge):
    torch.manual_seed(0)
    source = torch.rand(2, 3, 56, 56)
    edited = torch.rand(2, 3, 56, 56, requires_grad=True)
    logits = judge.yes_no_logits([source, edited], ["was the request done ? Answer Yes or No ."] * 2)
    assert logits.shape == (2, 2)
    (logits[:, 0] - logits[:, 1]).sum().backward()
    assert (edited.grad.flatten(1).norm(dim=1) > 0).all()
    assert all(p.grad is None for p in judge.model.parameters())
    p_yes = judge.reward([source, edited.detach()], ["is there a cat ?"] * 2)
    assert ((p_yes > 0) & (p_yes < 1)).all()


def test_another_model_type_is_refused(tmp_path):
    import json


    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(ValueError, match="model_type 'llava'"):
        Qwen25VLScorer(str(tmp_path))
