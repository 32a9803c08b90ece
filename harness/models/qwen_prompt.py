"""Qwen-Image prompt encoding: the Qwen2.5-VL text encoder that sees the source image.

What ``QwenImageEdit(Plus)Pipeline._get_qwen_prompt_embeds`` computes, without the pipeline's processor
object (its class check needs torchvision, reference/real_backends.md §3.3 item 3): the chat template with
one ``<|image_pad|>`` expanded to the image's merged patch count, the pixels through the torch
preprocessing the ``qwen2_5_vl`` judge uses (exact against ``Qwen2VLImageProcessorPil`` where no resize is
needed), the last hidden layer, the template prefix (system turn + ``<|im_start|>user\\n``) dropped, the
rest right-padded with a mask (None when nothing is padded, as the pipeline returns).

Without an image (the text-to-image teacher / auxiliary) the Qwen-Image text-to-image template is used,
as ``QwenImagePipeline`` encodes prompts (drop 34).
"""

from __future__ import annotations

import math

import torch

from harness.scorers.scorer import qwen_preprocess, torch_resize

_EDIT_SYSTEM = ("<|im_start|>system\nDescribe the key features of the input image (color, shape, size, texture, "
                "objects, background), then explain how the user's text instruction should alter or modify the "
                "image. Generate a new image that meets the user's requirements while maintaining consistency "
                "with the original input where appropriate.<|im_end|>\n<|im_start|>user\n")
_TAIL = "<|im_end|>\n<|im_start|>assistant\n"
VISION = "<|vision_start|><|image_pad|><|vision_end|>"
# diffusers 0.42.1 pipeline_qwenimage_edit.py / _edit_plus.py / pipeline_qwenimage.py (prompt_template_encode)
TEMPLATES = {
    "edit": _EDIT_SYSTEM + VISION + "{}" + _TAIL,
    "plus": _EDIT_SYSTEM + "Picture 1: " + VISION + "{}" + _TAIL,
    "t2i": ("<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, "
            "spatial relationships of the objects and background:<|im_end|>\n<|im_start|>user\n{}" + _TAIL),
}
DROP_IDX = {"edit": 64, "plus": 64, "t2i": 34}  # prompt_template_encode_start_idx of each pipeline
CONDITION_AREA_PLUS = 384 * 384  # pipeline_qwenimage_edit_plus.py CONDITION_IMAGE_SIZE


def prefix_length(tokenizer, template: str) -> int:
    """Tokens before the user's content: what the pipeline's ``drop_idx`` must equal."""
    head = template.split("<|im_start|>user\n")[0] + "<|im_start|>user\n"
    return len(tokenizer.encode(head, add_special_tokens=False))


def condition_size(h: int, w: int, variant: str) -> tuple[int, int]:
    """The VL condition image's size: Plus resizes each image to a 384^2 area (multiples of 32, as the
    pipeline's ``calculate_dimensions``); Edit sees the reference at the size the VAE sees it."""
    if variant != "plus":
        return h, w
    ratio = w / h
    cw = math.sqrt(CONDITION_AREA_PLUS * ratio)
    return round(cw / ratio / 32) * 32, round(cw / 32) * 32


class QwenPromptEncoder:
    """``encode(prompts, pixels)`` -> (embeds [B, L, D], mask [B, L] or None), frozen (no grad)."""

    def __init__(self, text_encoder, tokenizer, image_processor, variant: str):
        self.text_encoder, self.tokenizer, self.ip, self.variant = text_encoder, tokenizer, image_processor, variant
        for kind in (variant, "t2i"):
            got = prefix_length(tokenizer, TEMPLATES[kind])
            if got != DROP_IDX[kind]:
                raise ValueError(f"the Qwen-Image tokenizer splits the {kind} template prefix into {got} tokens, "
                                 f"the pipeline drops {DROP_IDX[kind]}: not a Qwen-Image tokenizer")
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    @torch.no_grad()
    def encode(self, prompts: list[str], pixels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        enc = self.text_encoder
        device = next(enc.parameters()).device
        kind = "t2i" if pixels is None else self.variant
        kwargs = {}
        template = TEMPLATES[kind]
        if pixels is not None:
            if pixels.shape[0] != len(prompts):
                raise ValueError(f"{len(prompts)} prompts for {pixels.shape[0]} reference images")
            x = pixels.float()
            ch, cw = condition_size(*x.shape[-2:], self.variant)
            if (ch, cw) != tuple(x.shape[-2:]):
                x = torch_resize(x, (ch, cw))
            pv, (gh, gw) = qwen_preprocess(x.to(device), self.ip)
            n_tok = gh * gw // int(self.ip.merge_size) ** 2
            template = template.replace("<|image_pad|>", "<|image_pad|>" * n_tok)
            kwargs = dict(pixel_values=pv.to(enc.dtype),
                          image_grid_thw=torch.tensor([[1, gh, gw]] * len(prompts), device=device))
        ids = [self.tokenizer.encode(template.format(p), add_special_tokens=False) for p in prompts]
        n = max(len(i) for i in ids)
        input_ids = torch.tensor([i + [self.pad_id] * (n - len(i)) for i in ids], device=device)
        attn = torch.tensor([[1] * len(i) + [0] * (n - len(i)) for i in ids], device=device)
        hidden = enc(input_ids=input_ids, attention_mask=attn, output_hidden_states=True, **kwargs).hidden_states[-1]
        drop = DROP_IDX[kind]
        rows = [h[m.bool()][drop:] for h, m in zip(hidden, attn)]
        length = max(r.shape[0] for r in rows)
        embeds = torch.stack([torch.cat([r, r.new_zeros(length - r.shape[0], r.shape[1])]) for r in rows])
        mask = torch.stack([torch.arange(length, device=device) < r.shape[0] for r in rows]).long()
        return embeds, (None if bool(mask.all()) else mask)
