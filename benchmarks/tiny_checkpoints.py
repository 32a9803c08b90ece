"""Tiny random checkpoints of the real architectures, in their official folder layouts, built offline.

The tests (and anyone trying the real-backend path on a laptop) build these instead of downloading:
FLUX.1-Kontext-dev (``FluxKontextPipeline.save_pretrained``) and a Qwen2.5-VL judge
(``save_pretrained`` of model, tokenizer and a ``Qwen2VLImageProcessorPil``). The configs are the
ones in shared/reference/real_backends.md §3.2; the tokenizers are made locally (no hub), so
everything runs with no network. ``python -m benchmarks.tiny_checkpoints OUT`` writes both plus a
small JSONL data set (``write_jsonl_data``) for a quick ``harness run`` with the real backends.
"""

from __future__ import annotations

import json
import string
import sys
from pathlib import Path

import torch

# The real FLUX.1-Kontext scheduler config (reference §1.3).
KONTEXT_SCHEDULER = {"base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
                     "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": True}
WORDS = ("make", "the", "turn", "remove", "add", "a", "an", "red", "blue", "green", "cat", "dog", "circle",
         "square", "triangle", "background", "white", "black", "photo", "of", "on", "to", "into")


def _clip_tokenizer():
    from transformers import CLIPTokenizer

    letters = list(string.ascii_lowercase)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for tok in letters + [f"{c}</w>" for c in letters]:
        vocab[tok] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)  # no merges: words spelled in letters


def _t5_tokenizer():
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [("\u2581" + w, -3.0) for w in WORDS] + [(c, -5.0) for c in string.ascii_lowercase]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)


def build_tiny_kontext(root: str | Path, seed: int = 0) -> Path:
    """A random FLUX.1-Kontext-dev pipeline folder (0.7 MB), loadable by ``FluxKontextPipeline.from_pretrained``."""
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxKontextPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    clip_tok, t5_tok = _clip_tokenizer(), _t5_tokenizer()
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=64, out_channels=None, num_layers=1, num_single_layers=2, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, guidance_embeds=True,
        axes_dims_rope=(4, 6, 6))
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        norm_num_groups=4, sample_size=64, use_quant_conv=False, use_post_quant_conv=False,
        scaling_factor=0.3611, shift_factor=0.1159)
    clip = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(clip_tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        projection_dim=32, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        hidden_act="quick_gelu"))
    t5 = T5EncoderModel(T5Config(
        vocab_size=max(64, len(t5_tok)), d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2,
        feed_forward_proj="gated-gelu", decoder_start_token_id=0, pad_token_id=0, eos_token_id=1))
    pipe = FluxKontextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**KONTEXT_SCHEDULER), vae=vae, text_encoder=clip,
        tokenizer=clip_tok, text_encoder_2=t5, tokenizer_2=t5_tok, transformer=transformer)
    pipe.save_pretrained(str(root), safe_serialization=True)
    return Path(root)


QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
QWEN_CORPUS = [
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
    "<|im_end|>\n<|im_start|>assistant\nYes", "<|im_end|>\n<|im_start|>assistant\nNo",
    "Answer Yes or No . Yes No yes no the second image is the first one after the request : was it done ?",
    "apart from what the request names , is the second image the same as the first ? is there a in image",
    " ".join(WORDS),
]


def _qwen_tokenizer(corpus: list[str] | None = None, vocab_size: int = 500, extra: tuple[str, ...] = ()):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=QWEN_SPECIALS + list(extra), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator((corpus or QWEN_CORPUS) * 4, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<|endoftext|>", eos_token="<|im_end|>",
                                   unk_token=None, additional_special_tokens=QWEN_SPECIALS[1:] + list(extra))


def _tiny_qwen25vl_model(tok):
    """The tiny Qwen2.5-VL of reference §3.2 over tokenizer ``tok`` (special ids read from it)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIALS}
    special = dict(bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    cfg = Qwen2_5_VLConfig(
        vocab_size=len(tok), tie_word_embeddings=True, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], vision_token_id=ids["<|vision_pad|>"], **special,
        text_config=dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, intermediate_size=64, rms_norm_eps=1e-6,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
                         **special),
        vision_config=dict(depth=2, hidden_size=16, num_heads=2, out_hidden_size=32, intermediate_size=32,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, in_chans=3,
                           fullatt_block_indexes=[1], window_size=112))
    return Qwen2_5_VLForConditionalGeneration(cfg)


def _tiny_qwen_image_processor():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    return Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=28 * 28 * 1280, patch_size=14,
                                    temporal_patch_size=2, merge_size=2)


def build_tiny_qwen25vl(root: str | Path, seed: int = 0) -> Path:
    """A random Qwen2.5-VL judge folder (model + tokenizer + PIL image processor), no processor class needed."""
    torch.manual_seed(seed)
    tok = _qwen_tokenizer()
    root = Path(root)
    _tiny_qwen25vl_model(tok).save_pretrained(root)
    tok.save_pretrained(root)
    _tiny_qwen_image_processor().save_pretrained(root)
    return root


def build_tiny_chat_judge(root: str | Path, kind: str, seed: int = 0) -> Path:
    """A random LLaVA-OneVision (``kind="llava_onevision"``) or HF-native InternVL (``"internvl"``) judge folder:
    the reference §4.3 configs (56 px vision, 2 layers), a local Qwen2 BPE and the PIL image processor."""
    from transformers import (
        InternVLConfig,
        InternVLForConditionalGeneration,
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
    )
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import (
        GotOcr2ImageProcessorPil,
    )
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    torch.manual_seed(seed)
    image_token = {"llava_onevision": "<image>", "internvl": "<IMG_CONTEXT>"}[kind]
    tok = _qwen_tokenizer(vocab_size=500, extra=(image_token, "<img>", "</img>"))
    text = dict(model_type="qwen2", vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                bos_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    tid = tok.convert_tokens_to_ids(image_token)
    if kind == "llava_onevision":
        cfg = LlavaOnevisionConfig(text_config=text, vision_config=dict(
            model_type="siglip_vision_model", hidden_size=16, intermediate_size=32, num_hidden_layers=2,
            num_attention_heads=2, image_size=56, patch_size=14), image_token_id=tid, image_grid_pinpoints=[[56, 56]],
            vision_feature_layer=-1, vision_feature_select_strategy="full")
        model, ip = LlavaOnevisionForConditionalGeneration(cfg), LlavaOnevisionImageProcessorPil(
            size={"height": 56, "width": 56}, image_mean=[0.5] * 3, image_std=[0.5] * 3, image_grid_pinpoints=[[56, 56]])
    else:
        cfg = InternVLConfig(text_config=text, vision_config=dict(
            hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=[56, 56],
            patch_size=[14, 14]), image_token_id=tid, downsample_ratio=0.5, projector_hidden_act="gelu",
            vision_feature_layer=-1, vision_feature_select_strategy="default")
        model, ip = InternVLForConditionalGeneration(cfg), GotOcr2ImageProcessorPil(
            size={"height": 56, "width": 56}, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    root = Path(root)
    model.save_pretrained(root)
    tok.save_pretrained(root)
    ip.save_pretrained(root)
    return root


# The real Qwen-Image scheduler config (reference §1.5).
QWEN_IMAGE_SCHEDULER = {"base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 8192, "max_shift": 0.9,
                        "num_train_timesteps": 1000, "shift": 1.0, "shift_terminal": 0.02,
                        "time_shift_type": "exponential", "use_dynamic_shifting": True}
QWEN_IMAGE_VARIANTS = ("edit", "plus", "2511")  # Qwen-Image-Edit, -2509 (Plus), -2511 (Plus + zero_cond_t)


def build_tiny_qwen_image_edit(root: str | Path, variant: str = "edit", seed: int = 0) -> Path:
    """A random Qwen-Image-Edit (``edit``), -2509 (``plus``) or -2511 (``2511``: ``zero_cond_t``) pipeline folder.

    The tokenizer is a byte-level BPE trained on the pipelines' own prompt templates, so the template prefixes
    tokenise to the real ``drop_idx`` (64 edit, 34 text-to-image). No ``Qwen2VLProcessor`` object is made (its
    class check needs torchvision, reference §3.3 item 3): the pipeline is saved without one, tokenizer and
    ``Qwen2VLImageProcessorPil`` are written to ``processor/`` by hand and model_index.json names the real class.
    """
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageEditPipeline,
        QwenImageEditPlusPipeline,
        QwenImageTransformer2DModel,
    )

    from harness.models.qwen_prompt import TEMPLATES

    if variant not in QWEN_IMAGE_VARIANTS:
        raise ValueError(f"variant={variant!r}; one of {QWEN_IMAGE_VARIANTS}")
    torch.manual_seed(seed)
    corpus = [t.replace("{}", "") for t in TEMPLATES.values()] + QWEN_CORPUS[3:]
    tok = _qwen_tokenizer(corpus, vocab_size=700)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=64, out_channels=16, num_layers=2, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=32, guidance_embeds=False, axes_dims_rope=(4, 6, 6), zero_cond_t=variant == "2511")
    vae = AutoencoderKLQwenImage(base_dim=16, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1,
                                 temperal_downsample=[False, True, True])  # the class default mean/std are the real 16
    cls = QwenImageEditPipeline if variant == "edit" else QwenImageEditPlusPipeline
    pipe = cls(scheduler=FlowMatchEulerDiscreteScheduler(**QWEN_IMAGE_SCHEDULER), vae=vae,
               text_encoder=_tiny_qwen25vl_model(tok), tokenizer=tok, processor=None, transformer=transformer)
    root = Path(root)
    pipe.save_pretrained(str(root), safe_serialization=True)
    tok.save_pretrained(root / "processor")
    _tiny_qwen_image_processor().save_pretrained(root / "processor")
    index = json.loads((root / "model_index.json").read_text())
    index["processor"] = ["transformers", "Qwen2VLProcessor"]
    (root / "model_index.json").write_text(json.dumps(index, indent=2))
    return root


def write_jsonl_data(root: str | Path, n: int = 4, size: int = 48, seed: int = 0) -> dict[str, Path]:
    """A tiny user data set in the harness's JSONL formats: unpaired.jsonl, paired.jsonl (+ target) and an
    ImgEdit-style basic_edit.json, over random-colour PNGs of ``size`` px (not the generator's resolution:
    the loaders resize in torch)."""
    from PIL import Image

    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    rows, paired, bench = [], [], {}
    cats = ["color_alter", "subject-remove", "subject-add", "background_change"]
    for i in range(n):
        for kind in ("src", "tgt"):
            px = (torch.rand(size, size, 3, generator=g) * 255).to(torch.uint8).numpy()
            Image.fromarray(px).save(root / "images" / f"{kind}{i}.png")
        row = {"image": f"images/src{i}.png", "instruction": "make the circle red", "category": cats[i % len(cats)],
               "target_caption": "a red circle on a white background", "object_name": "circle"}
        rows.append(row)
        paired.append({**row, "target": f"images/tgt{i}.png"})
        bench[f"k{i}"] = {"id": f"src{i}.png", "prompt": "make the circle red", "edit_type": "adjust"}
    out = {"unpaired": root / "unpaired.jsonl", "paired": root / "paired.jsonl", "imgedit": root / "basic_edit.json"}
    out["unpaired"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    out["paired"].write_text("".join(json.dumps(r) + "\n" for r in paired))
    out["imgedit"].write_text(json.dumps(bench))
    return out


if __name__ == "__main__":
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else "tiny_checkpoints")
    build_tiny_kontext(dest / "kontext")
    build_tiny_qwen25vl(dest / "qwen25vl")
    build_tiny_qwen_image_edit(dest / "qwen_image_edit")
    print(json.dumps({k: str(v) for k, v in write_jsonl_data(dest / "data").items()}, indent=1))
