"""Judges ``llava_onevision`` and ``internvl``: HF-native checkpoints (``scorer=NAME scorer.path=DIR``).

Both follow harness/scorers/qwen2_5_vl.py: the image side is torch (so the Yes/No gradient reaches the
edited pixels), the prompt is built by hand as token ids in the Qwen2 chat layout both 7-8B checkpoints
use (``<|im_start|>user\n{images}{question}<|im_end|>\n<|im_start|>assistant\n``; a checkpoint's own
chat template is not read), Yes/No ids are the answer's first token
after the prompt, and the model is frozen.

- LLaVA-OneVision (``LlavaOnevisionForConditionalGeneration``): a multi-image prompt (source, edit) is the
  processor's ``batch_num_images > 1`` path: pad to square with the mean colour, resize to the vision size
  (384^2), normalise; one view per image, ``(S/p)^2`` tokens + 1 ``image_newline`` each. The single-image
  anyres path (tiles) is not reproduced: one-image prompts are refused.
- Text generation (VIEScore / ImgEdit judges) uses the same layout and preprocessing; LLaVA-OneVision's
  one-image query (VIEScore's PQ) takes the processor's anyres path there, since no gradient is needed.
- InternVL (``InternVLForConditionalGeneration``, the ``-hf`` layout; ``GotOcr2ImageProcessor``): one 448^2
  tile per image (``crop_to_patches`` off), ImageNet normalisation, ``<img><IMG_CONTEXT>xN</img>`` with
  N = (S/p)^2 * downsample_ratio^2, npedit's "Image-k: " layout.

Exact against the PIL image processors where no resize is needed (square images at the vision size); a
measured tolerance where they are resized (PIL vs torch bicubic).
"""

from __future__ import annotations

import torch

from harness.scorers.qwen2_5_vl import PathJudge, answer_token_id
from harness.scorers.scorer import Scorer, as_slots, torch_resize


def _size(ip) -> tuple[int, int]:
    s = ip.size
    get = s.get if isinstance(s, dict) else (lambda k, d=None: getattr(s, k, d))
    return (int(get("height")), int(get("width"))) if get("height") else (int(get("shortest_edge")),) * 2


class ChatJudge(PathJudge, Scorer):
    """Frozen HF-native VLM; subclasses give ``model_types``, ``_pixels`` and ``_image_block``."""

    generates_text = True  # a VIEScore / ImgEdit text judge too (benchmarks/judges/hf_text_judge.py)

    def __init__(self, path: str, device: str = "cpu", dtype: torch.dtype | None = None,
                 gradient_checkpointing: bool = False):
        from transformers import AutoModelForImageTextToText, AutoTokenizer

        self.check_model_type(path)
        kw = {"dtype": dtype} if dtype is not None else {}
        self.path = str(path)
        self.device = torch.device(device)
        self.model = AutoModelForImageTextToText.from_pretrained(str(path), use_safetensors=True, **kw)
        self.model.requires_grad_(False).eval().to(self.device)
        if gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.image_processor = self.image_processor_class().from_pretrained(str(path))  # PIL: no torchvision
        prompt = self.tokenizer.decode(self._ids("Answer Yes or No .", 2, 1))
        self.yes_id = answer_token_id(self.tokenizer, prompt, "Yes")
        self.no_id = answer_token_id(self.tokenizer, prompt, "No")

    # ------------------------------------------------------------------ image side
    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [0, 1] -> the processor's normalised [N, 3, S, S] (resize only when needed)."""
        ip = self.image_processor
        hw = _size(ip)
        if tuple(x.shape[-2:]) != hw:
            x = torch_resize(x.float(), hw)
        mean = torch.tensor(ip.image_mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(ip.image_std, device=x.device).view(1, 3, 1, 1)
        return (x.float() - mean) / std

    def _pixels(self, x: torch.Tensor, b: int, k: int) -> tuple[dict, int]:
        raise NotImplementedError

    # ------------------------------------------------------------------ text side
    def _image_block(self, i: int, n_tok: int) -> str:
        raise NotImplementedError

    def _ids(self, q: str, k: int, n_tok: int) -> list[int]:
        images = "".join(self._image_block(i, n_tok) for i in range(k))
        text = f"<|im_start|>user\n{images}{q}<|im_end|>\n<|im_start|>assistant\n"
        return self.tokenizer.encode(text, add_special_tokens=False)

    def model_inputs(self, images, questions) -> dict:
        slots = as_slots(images)
        b, k = slots[0].shape[0], len(slots)
        if len(questions) != b:
            raise ValueError(f"{len(questions)} questions for {b} images per slot")
        x = torch.stack(slots, dim=1).reshape(b * k, *slots[0].shape[1:]).to(self.device)  # sample-major
        pix, n_tok = self._pixels(x, b, k)
        rows = [self._ids(q, k, n_tok) for q in questions]
        n = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((b, n), pad, dtype=torch.long)
        mask = torch.zeros((b, n), dtype=torch.long)
        for i, r in enumerate(rows):  # left padding: the answer position is the last one of every row
            ids[i, n - len(r):] = torch.tensor(r)
            mask[i, n - len(r):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device),
                "position_ids": pos.to(self.device), **pix}

    def answer_logits(self, images, questions) -> torch.Tensor:
        return self.model(**self.model_inputs(images, questions), logits_to_keep=1).logits[:, -1].float()

    def yes_no_logits(self, images, questions) -> torch.Tensor:
        return self.answer_logits(images, questions)[:, [self.yes_id, self.no_id]]


class LlavaOnevisionScorer(ChatJudge):
    model_types = ("llava_onevision",)

    @staticmethod
    def image_processor_class():
        from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
            LlavaOnevisionImageProcessorPil,
        )

        return LlavaOnevisionImageProcessorPil

    def _pixels(self, x, b, k):
        if k < 2:
            raise ValueError("llava_onevision scores multi-image prompts (source, edit); the one-image anyres "
                             "tiling is not reproduced in torch")
        h, w = x.shape[-2:]
        if h != w:  # pad to square with the mean colour, as the processor's multi-image path
            side = max(h, w)
            canvas = torch.tensor(self.image_processor.image_mean, device=x.device).view(1, 3, 1, 1)
            canvas = canvas.expand(x.shape[0], 3, side, side).clone()
            top, left = (side - h) // 2, (side - w) // 2
            canvas[:, :, top:top + h, left:left + w] = x
            x = canvas
        pv = self.normalise(x).to(self.model.dtype)
        s = pv.shape[-1]
        cfg = self.model.config
        n = (s // cfg.vision_config.patch_size) ** 2 - (1 if cfg.vision_feature_select_strategy == "default" else 0)
        sizes = torch.tensor([[s, s]] * (b * k), device=self.device)
        return {"pixel_values": pv.unsqueeze(1), "image_sizes": sizes,
                "batch_num_images": torch.tensor([k] * b, device=self.device)}, n + 1  # + image_newline

    @torch.no_grad()
    def generation_inputs(self, images, prompt):
        if len(images) != 1:
            return super().generation_inputs(images, prompt)
        # One image (VIEScore's PQ query), text only, so no gradient is needed: the PIL processor's own anyres
        # path (base view + tiles of the 8-bit image); the image token count is the model's packed feature length.
        arr = (images[0].detach().float().clamp(0, 1).permute(1, 2, 0) * 255).round().byte().cpu().numpy()
        pix = self.image_processor(images=[arr], return_tensors="pt")
        pv = torch.as_tensor(pix["pixel_values"]).to(self.device, self.model.dtype)
        sizes = torch.as_tensor(pix["image_sizes"]).to(self.device)
        feats = self.model.get_image_features(pixel_values=pv, image_sizes=sizes).pooler_output  # one per image
        n_tok = sum(int(f.shape[0]) for f in feats)
        ids = torch.tensor([self._ids(prompt, 1, n_tok)], device=self.device)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "pixel_values": pv, "image_sizes": sizes}

    def _image_block(self, i, n_tok):
        return "<image>" * n_tok + "\n"


class InternVLScorer(ChatJudge):
    model_types = ("internvl",)

    @staticmethod
    def image_processor_class():
        from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import (
            GotOcr2ImageProcessorPil,
        )

        return GotOcr2ImageProcessorPil

    def _pixels(self, x, b, k):
        pv = self.normalise(x).to(self.model.dtype)
        cfg = self.model.config
        p = cfg.vision_config.patch_size
        p = p[0] if isinstance(p, (list, tuple)) else p
        n = int((pv.shape[-1] // p) ** 2 * cfg.downsample_ratio ** 2)
        return {"pixel_values": pv}, n

    def _image_block(self, i, n_tok):
        return f"Image-{i + 1}: <img>" + "<IMG_CONTEXT>" * n_tok + "</img>\n"
