"""VLM scorers: Yes/No logits that are differentiable with respect to the input images.

Images enter as float tensors in [0, 1]. The image side is preprocessed with torch ops only (no PIL,
no uint8 round trip) so gradients reach the pixels; the text side uses the checkpoint's own
tokenizer/processor. Two families are supported: LLaVA (`model_type == "llava"`) and Qwen2-VL /
Qwen2.5-VL.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from .object_masks import grow_to_objects

ImagesArg = torch.Tensor | Sequence[torch.Tensor | Sequence[torch.Tensor]]


def as_slots(images: ImagesArg) -> list[torch.Tensor]:
    """Normalise the images argument to a list of [B, 3, H, W] tensors, one per image slot."""
    if isinstance(images, torch.Tensor):
        images = [images]
    slots = []
    for s in images:
        if not isinstance(s, torch.Tensor):
            s = torch.stack(list(s))
        if s.dim() == 3:
            s = s.unsqueeze(0)
        if s.dim() != 4 or s.shape[1] != 3:
            raise ValueError(f"each image slot must be [B, 3, H, W] (or a list of [3, H, W]), got {tuple(s.shape)}")
        slots.append(s)
    if not slots:
        raise ValueError("at least one image slot is needed")
    b = slots[0].shape[0]
    if any(s.shape[0] != b for s in slots):
        raise ValueError(f"image slots disagree on batch size: {[s.shape[0] for s in slots]}")
    return slots


def _pair(v, default=None):
    """(height, width) from a SizeDict/dict with height/width keys, or None."""
    if v is None:
        return default
    get = v.get if isinstance(v, dict) else (lambda k, d=None: getattr(v, k, d))
    h, w = get("height", None), get("width", None)
    return (int(h), int(w)) if h and w else default


def _size_get(size, key):
    if size is None:
        return None
    return size.get(key) if isinstance(size, dict) else getattr(size, key, None)


def torch_resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Bicubic antialiased resize, identity (no op at all) when the size already matches."""
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    return F.interpolate(x, size=hw, mode="bicubic", antialias=True, align_corners=False).clamp(0.0, 1.0)


def _mean_std(ip, x: torch.Tensor):
    mean = torch.tensor(ip.image_mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(ip.image_std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return mean, std


def clip_preprocess(x: torch.Tensor, ip) -> torch.Tensor:
    """Torch version of a CLIP-style image processor for images in [0, 1]: resize, crop, normalise.

    The rescale step (uint8 -> [0, 1]) is already done by the caller's convention; with no resize
    this matches the HF processor bit for bit on uint8-representable inputs.
    """
    x = x.float()
    h, w = x.shape[-2:]
    if getattr(ip, "do_resize", True):
        size = ip.size
        short = _size_get(size, "shortest_edge")
        if short:
            s, l_ = (h, w) if h <= w else (w, h)
            new_l = int(short * l_ / s)
            hw = (short, new_l) if h <= w else (new_l, short)
        else:
            hw = _pair(size, (h, w))
        x = torch_resize(x, hw)
    if getattr(ip, "do_center_crop", False):
        ch, cw = _pair(ip.crop_size)
        h, w = x.shape[-2:]
        if ch > h or cw > w:
            raise ValueError(f"centre crop {ch}x{cw} is larger than the resized image {h}x{w}")
        top, left = (h - ch) // 2, (w - cw) // 2
        x = x[..., top : top + ch, left : left + cw]
    if getattr(ip, "do_normalize", True):
        mean, std = _mean_std(ip, x)
        x = (x - mean) / std
    return x


def qwen_preprocess(x: torch.Tensor, ip) -> tuple[torch.Tensor, tuple[int, int]]:
    """Torch version of Qwen2-VL's processor: smart resize, normalise, patchify.

    Returns (pixel_values [B * gh * gw, C * T * p * p], (gh, gw)).
    """
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    x = x.float()
    p, m, t = int(ip.patch_size), int(ip.merge_size), int(ip.temporal_patch_size)
    size = getattr(ip, "size", None)
    min_px = _size_get(size, "shortest_edge") or getattr(ip, "min_pixels", None) or 56 * 56
    max_px = _size_get(size, "longest_edge") or getattr(ip, "max_pixels", None) or 28 * 28 * 1280
    b, c, h, w = x.shape
    if getattr(ip, "do_resize", True):
        h, w = smart_resize(h, w, factor=p * m, min_pixels=min_px, max_pixels=max_px)
        x = torch_resize(x, (h, w))
    if getattr(ip, "do_normalize", True):
        mean, std = _mean_std(ip, x)
        x = (x - mean) / std
    gh, gw = h // p, w // p
    x = x.reshape(b, c, gh // m, m, p, gw // m, m, p)
    x = x.permute(0, 2, 5, 3, 6, 1, 4, 7)  # (B, gh/m, gw/m, m, m, C, p, p) as in the HF patchify
    x = x.unsqueeze(6).expand(*x.shape[:6], t, p, p)  # temporal copies of a still image
    return x.reshape(b * gh * gw, c * t * p * p), (gh, gw)


class Scorer:
    """Contract: Yes/No logits of a frozen VLM, differentiable with respect to the images."""

    device: torch.device

    yes_id: int
    no_id: int

    def yes_no_logits(self, images: ImagesArg, questions: Sequence[str]) -> torch.Tensor:
        """[B, 2] logits (Yes, No) at the first answer position."""
        raise NotImplementedError

    def answer_logits(self, images: ImagesArg, questions: Sequence[str]) -> torch.Tensor:
        """[B, V] logits over the whole vocabulary at the first answer position (optional)."""
        raise NotImplementedError(f"{type(self).__name__} does not expose full-vocabulary logits")

    generates_text = False  # True: `model.generate` on `generation_inputs` (a VIEScore / ImgEdit text judge)

    def generation_inputs(self, images: Sequence[torch.Tensor], prompt: str) -> dict:
        """``model.generate`` inputs for one prompt about ``images`` ([3, H, W] each, in prompt order): the
        scorer's own chat layout and preprocessing, a batch of one (no padding, so generate builds positions)."""
        inputs = self.model_inputs([img.detach()[None] for img in images], [prompt])
        inputs.pop("position_ids", None)
        return inputs

    @torch.no_grad()
    def reward(self, images: ImagesArg, questions: Sequence[str]) -> torch.Tensor:
        """P(Yes) from the softmax over the two logits, no gradient: [B]."""
        slots = [s.detach() for s in as_slots(images)]
        return torch.softmax(self.yes_no_logits(slots, questions).float(), dim=-1)[:, 0]


QWEN_TYPES = ("qwen2_vl", "qwen2_5_vl")
# Harness options saved beside a checkpoint that change how it is prompted (the embedded judge's only).
SCORER_OPTIONS = "scorer_options.json"
SCORER_OPTION_NAMES = ("change_crops", "object_crops")


def change_crop_slots(source: torch.Tensor, edited: torch.Tensor, lo: float = 0.1, hi: float = 0.2,
                      objects: bool = False):
    """Two more images for a (source, edited) pair: the source and the edited image, each shown only where
    the pair differs and grey elsewhere, so "what was there" and "what is there now" at the changed places
    are one-image questions. The mask ramps from 0 at a per-pixel change of ``lo`` to 1 at ``hi`` (faint
    noise stays hidden); the crops are differentiable in both images where the mask is above 0. With
    ``objects``, the mask also covers the whole objects it touches in either image (object_masks)."""
    change = (edited - source).abs().amax(dim=-3, keepdim=True)
    m = ((change - lo) / (hi - lo)).clamp(0, 1)
    if objects:
        m = torch.maximum(m, torch.maximum(grow_to_objects(m, source), grow_to_objects(m, edited)))
    return 0.5 + m * (source - 0.5), 0.5 + m * (edited - 0.5)


def _scorer_options(path: str) -> dict:
    f = Path(path) / SCORER_OPTIONS
    if not f.is_file():
        return {}
    try:
        opts = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{f}: not valid JSON ({e})") from e
    if not isinstance(opts, dict):
        raise ValueError(f"{f}: expected a JSON object of scorer options, got {type(opts).__name__}")  # noqa: TRY004
    bad = sorted(set(opts) - set(SCORER_OPTION_NAMES))
    if bad:
        raise ValueError(f"{f}: unknown scorer options {bad}; allowed: {list(SCORER_OPTION_NAMES)}")
    return opts


class HFVLMScorer(Scorer):
    """Any local `from_pretrained` folder of a LLaVA or Qwen2-VL checkpoint."""

    @classmethod
    def from_context(cls, ctx) -> "HFVLMScorer":
        """Scorer ``hf``: the local checkpoint folder ``scorer_path`` of the run."""
        run = ctx.cfg.run
        path = run.scorer_path or getattr(getattr(run, "scorer", None), "path", None)
        if not path:
            raise ValueError("scorer 'hf' needs scorer_path=<local folder of a LLaVA or Qwen2-VL checkpoint>")
        return cls(path, device=str(ctx.device), trust_remote_code=run.trust_remote_code)

    def __init__(self, path: str, device: str = "cpu", trust_remote_code: bool = False,
                 yes_token: str = "Yes", no_token: str = "No", dtype: torch.dtype | None = None):
        from transformers import AutoConfig, AutoModelForImageTextToText

        path = str(path)
        if not Path(path).is_dir():
            raise FileNotFoundError(f"VLM scorer path {path!r} is not a local folder (no downloads are made)")
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        family = "qwen2_vl" if config.model_type in QWEN_TYPES else config.model_type
        if family not in ("llava", "qwen2_vl"):
            raise ValueError(f"{path}: model_type {config.model_type!r} is not supported; use llava or qwen2_vl")
        kw = {"trust_remote_code": trust_remote_code}
        if dtype is not None:
            kw["dtype"] = dtype
        model = AutoModelForImageTextToText.from_pretrained(path, **kw)
        if family == "llava":
            from transformers import AutoProcessor

            processor = AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
            tokenizer, image_processor = processor.tokenizer, processor.image_processor
        else:
            # Qwen2-VL's AutoProcessor needs torchvision for its video processor: load the parts.
            from transformers import AutoImageProcessor, AutoTokenizer

            processor = None
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
            image_processor = AutoImageProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
        options = _scorer_options(path)
        # Own the weights in freshly allocated memory: kernels pick SIMD paths by alignment, and
        # memory-mapped safetensors buffers would otherwise change scores in the last bits.
        with torch.no_grad():
            for p in model.parameters():
                p.data = p.data.clone()
        self._setup(model, tokenizer, image_processor, processor, device, yes_token, no_token, path=path)
        for name in SCORER_OPTION_NAMES:
            setattr(self, name, bool(options.get(name, False)))

    @classmethod
    def from_parts(cls, model, tokenizer, image_processor, processor=None, device="cpu",
                   yes_token="Yes", no_token="No", freeze=True) -> "HFVLMScorer":
        """Wrap an in-memory model (used while training the embedded judge, with freeze=False)."""
        self = cls.__new__(cls)
        HFVLMScorer._setup(self, model, tokenizer, image_processor, processor, device, yes_token, no_token,
                           path="<in-memory>", freeze=freeze)
        return self

    def _setup(self, model, tokenizer, image_processor, processor, device, yes_token, no_token, path,
               freeze=True):
        self.path = path
        self.device = torch.device(device)
        self.model = model.to(self.device)
        mt = model.config.model_type
        self.family = "qwen2_vl" if mt in QWEN_TYPES else mt
        if freeze:
            self.model.requires_grad_(False)  # frozen judge: gradients flow to the images only
            self.model.eval()
        self.processor, self.tokenizer, self.image_processor = processor, tokenizer, image_processor
        self.tokenizer.padding_side = "left"  # the answer position is then the last one for every row
        self.yes_id = self._token_id(yes_token)
        self.no_id = self._token_id(no_token)
        self._prompt_cache: dict[tuple[str, int, int], list[int]] = {}
        for name in SCORER_OPTION_NAMES:  # off unless the checkpoint's scorer_options.json turns them on
            setattr(self, name, False)

    def _token_id(self, word: str) -> int:
        ids = self.tokenizer.encode(word, add_special_tokens=False)
        unk = self.tokenizer.unk_token_id
        if not ids or (unk is not None and ids[0] == unk):
            raise ValueError(f"{self.path}: answer word {word!r} is not in the tokenizer vocabulary")
        return int(ids[0])

    # ------------------------------------------------------------------ image side
    def pixel_inputs(self, slots: list[torch.Tensor]) -> dict:
        b, k = slots[0].shape[0], len(slots)
        # sample-major order: the model consumes images in the order their tokens appear
        x = torch.stack(slots, dim=1).reshape(b * k, *slots[0].shape[1:]).to(self.device)
        if self.family == "llava":
            pv = clip_preprocess(x, self.image_processor)
            return {"pixel_values": pv.to(self.model.dtype)}
        pv, (gh, gw) = qwen_preprocess(x, self.image_processor)
        grid = torch.tensor([[1, gh, gw]] * (b * k), dtype=torch.long, device=self.device)
        return {"pixel_values": pv.to(self.model.dtype), "image_grid_thw": grid, "_tokens": gh * gw}

    # ------------------------------------------------------------------ text side
    def _llava_tokens_per_image(self, hw: tuple[int, int]) -> int:
        proc, vc = self.processor, self.model.config.vision_config
        p = getattr(proc, "patch_size", None) or vc.patch_size
        n = (hw[0] // p) * (hw[1] // p) + int(getattr(proc, "num_additional_image_tokens", 0) or 0)
        strategy = getattr(proc, "vision_feature_select_strategy", None) or \
            self.model.config.vision_feature_select_strategy
        return n - 1 if strategy == "default" else n

    def _llava_prompt(self, q: str, k: int) -> str:
        conv = [{"role": "user", "content": [{"type": "image"}] * k + [{"type": "text", "text": q}]}]
        if getattr(self.processor, "chat_template", None):
            return self.processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)
        return "USER: " + "<image> " * k + q + " ASSISTANT:"

    def _ids(self, q: str, k: int, n_tok: int) -> list[int]:
        key = (q, k, n_tok)
        if key in self._prompt_cache:
            return self._prompt_cache[key]
        tok = self.tokenizer
        if self.family == "llava":
            image_token = self.processor.image_token
            text = self._llava_prompt(q, k).replace(image_token, image_token * n_tok)
            ids = tok(text)["input_ids"]
            want = k * n_tok
            got = sum(1 for i in ids if i == self._image_token_id())
            if got != want:
                raise ValueError(f"prompt has {got} image tokens, expected {want}: {text[:200]!r}")
        else:
            cfg = self.model.config
            enc = lambda s: tok.encode(s, add_special_tokens=False)  # noqa: E731
            ids = enc("<|im_start|>user\n")
            for _ in range(k):  # image placeholders built by hand (no processor needed)
                ids += [cfg.vision_start_token_id] + [cfg.image_token_id] * n_tok + [cfg.vision_end_token_id]
            ids += enc(q + "<|im_end|>\n<|im_start|>assistant\n")
        self._prompt_cache[key] = ids
        return ids

    def _image_token_id(self) -> int:
        cfg = self.model.config
        tid = getattr(cfg, "image_token_id", None)
        return int(tid if tid is not None else cfg.image_token_index)  # older configs' name

    def text_inputs(self, questions: Sequence[str], k: int, n_tok: int) -> dict:
        rows = [self._ids(q, k, n_tok) for q in questions]
        n = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id or 0
        ids = torch.full((len(rows), n), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for i, r in enumerate(rows):  # left padding
            ids[i, n - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, n - len(r):] = 1
        out = {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}
        if self.family == "llava":
            # positions that ignore the padding, so a prompt scores the same in any batch
            out["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0).to(self.device)
        else:
            out["mm_token_type_ids"] = (ids == self.model.config.image_token_id).long().to(self.device)
        return out

    def prompt_slots(self, images: ImagesArg) -> list[torch.Tensor]:
        """The image slots the model sees: a (source, edited) pair gains the two change crops when the
        checkpoint was trained with them."""
        slots = as_slots(images)
        if len(slots) == 2 and self.change_crops:
            slots = slots + list(change_crop_slots(*slots, objects=self.object_crops))
        return slots

    def model_inputs(self, images: ImagesArg, questions: Sequence[str]) -> dict:
        slots = self.prompt_slots(images)
        if len(questions) != slots[0].shape[0]:
            raise ValueError(f"{len(questions)} questions for {slots[0].shape[0]} images per slot")
        pix = self.pixel_inputs(slots)
        if self.family == "llava":
            n_tok = self._llava_tokens_per_image(tuple(pix["pixel_values"].shape[-2:]))
        else:
            m = int(self.image_processor.merge_size)
            n_tok = pix.pop("_tokens") // (m * m)
        return {**self.text_inputs(list(questions), len(slots), n_tok), **pix}

    def answer_logits(self, images: ImagesArg, questions: Sequence[str]) -> torch.Tensor:
        """[B, V] full-vocabulary logits at the first answer position (for the full-CE ablation)."""
        inputs = self.model_inputs(images, questions)
        return self.model(**inputs, logits_to_keep=1).logits[:, -1].float()

    def yes_no_logits(self, images: ImagesArg, questions: Sequence[str]) -> torch.Tensor:
        return self.answer_logits(images, questions)[:, [self.yes_id, self.no_id]]
