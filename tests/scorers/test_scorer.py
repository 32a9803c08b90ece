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


def test_reward_is_the_softmax_of_the_yes_no_logits(tiny_scorer, images):
    x = images(2, 5)
    lg = tiny_scorer.yes_no_logits(x, Q[1:] * 2)
    p = tiny_scorer.reward(x, Q[1:] * 2)
    assert torch.allclose(p, torch.softmax(lg, -1)[:, 0])


def test_siglip_tower_full_strategy_keeps_every_patch_token(tiny_saved):
    """A LLaVA with a SigLIP tower (no CLS token, the "full" feature strategy) is scored too."""
    from transformers import LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor, SiglipVisionConfig

    _, _, proc = tiny_saved
    tok = proc.tokenizer
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                image_size=32, patch_size=8, vision_use_head=False)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=2, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(LlavaConfig(
        vision_config=vision, text_config=text, image_token_id=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1, vision_feature_select_strategy="full"))
    siglip_proc = LlavaProcessor(image_processor=proc.image_processor, tokenizer=tok, patch_size=8,
                                 vision_feature_select_strategy="full", image_token="<image>",
                                 num_additional_image_tokens=0, chat_template=proc.chat_template)
    sc = HFVLMScorer.from_parts(model, tok, proc.image_processor, siglip_proc)
    n_tok = sc._llava_tokens_per_image((32, 32))
    assert n_tok == (32 // 8) ** 2  # no CLS token to drop
    lg = sc.yes_no_logits([torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)], [Q[1]] * 3)
    assert lg.shape == (3, 2) and torch.isfinite(lg).all()


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


@pytest.mark.parametrize("text,match", [('{"diff": true}', "diff.*change_crops"),
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
