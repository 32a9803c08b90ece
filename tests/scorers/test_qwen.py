"""Second family: a tiny random Qwen2-VL saved locally and scored through HFVLMScorer."""
import pytest
import torch

from harness.scorers.scorer import HFVLMScorer, qwen_preprocess


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    d = tmp_path_factory.mktemp("qwen")
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
    words = ["user", "assistant", "Yes", "No", "is", "the", "background", "white", "?", "image", "one", "two"]
    vocab = {w: i for i, w in enumerate(specials + words + ["<unk>"])}
    tk = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<|endoftext|>",
                                  eos_token="<|im_end|>", additional_special_tokens=specials[1:])
    ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
    torch.manual_seed(0)
    cfg = Qwen2VLConfig(
        vision_config=dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, patch_size=8,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    Qwen2VLForConditionalGeneration(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    Qwen2VLImageProcessorPil(patch_size=8, merge_size=2, temporal_patch_size=2,
                             min_pixels=16 * 16, max_pixels=64 * 64).save_pretrained(d)
    return d


@pytest.mark.parametrize("k", [1, 2])
def test_qwen2vl_scores_and_backpropagates(qwen_dir, images, k):
    sc = HFVLMScorer(str(qwen_dir))
    assert sc.family == "qwen2_vl"
    slots = [images(3, s).requires_grad_(True) for s in range(k)]
    qs = ["is the background white ?", "is image one white ?", "is the background white ? ?"]
    lg = sc.yes_no_logits(slots, qs)
    assert lg.shape == (3, 2) and torch.isfinite(lg).all()
    (lg[:, 0] - lg[:, 1]).sum().backward()
    for s in slots:
        assert (s.grad.flatten(1).norm(dim=1) > 0).all()
    assert all(p.grad is None for p in sc.model.parameters())
    p = sc.reward([s.detach() for s in slots], qs)
    assert ((p > 0) & (p < 1)).all()


def test_qwen_patchify_matches_hf_processor(qwen_dir, images):
    from transformers import AutoImageProcessor

    ip = AutoImageProcessor.from_pretrained(str(qwen_dir))
    x = images(2, 4)
    u8 = (x * 255).round().to(torch.uint8).numpy().transpose(0, 2, 3, 1)
    ref = ip(list(u8), return_tensors="pt")
    ours, (gh, gw) = qwen_preprocess(x, ip)
    assert ref["image_grid_thw"].tolist() == [[1, gh, gw]] * 2
    assert torch.allclose(ref["pixel_values"], ours, atol=1e-6)
