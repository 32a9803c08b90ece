"""Judge ``qwen2_5_vl``: a local Qwen2.5-VL-Instruct folder (``scorer=qwen2_5_vl scorer.path=DIR``).

The image side is ``qwen_preprocess`` (torch smart-resize, normalise, patchify; exact against
``Qwen2VLImageProcessorPil`` where no resize is needed, i.e. sides that are multiples of 28); the prompt is
the model's chat layout built by hand (system prompt, one ``<|vision_start|><|image_pad|>xN<|vision_end|>``
per image, the question, the assistant turn), so no processor class (and no torchvision) is needed.
Yes/No ids are the answer's first token *after the prompt*: BPE vocabularies hold "Yes" and " Yes" apart.
"""

from __future__ import annotations

from typing import Any

import torch

from harness.scorers.scorer import HFVLMScorer

SYSTEM_PROMPT = "You are a helpful assistant."  # the Qwen2.5-VL chat template's default system turn
ASSISTANT = "<|im_end|>\n<|im_start|>assistant\n"


def torch_dtype(name: str | None) -> torch.dtype | None:
    return None if name is None else {"float32": torch.float32, "bfloat16": torch.bfloat16,
                                      "float16": torch.float16}[name]


def answer_token_id(tokenizer: Any, prompt: str, word: str) -> int:
    """The first token of ``word`` as the answer right after ``prompt`` (not a bare ``encode(word)``)."""
    head = tokenizer.encode(prompt, add_special_tokens=False)
    full = tokenizer.encode(prompt + word, add_special_tokens=False)
    i = next((j for j, (a, b) in enumerate(zip(head, full)) if a != b), len(head))
    if i >= len(full):
        raise ValueError(f"answer word {word!r} adds no token after the prompt")
    if tokenizer.unk_token_id is not None and full[i] == tokenizer.unk_token_id:
        raise ValueError(f"answer word {word!r} is not in the tokenizer vocabulary")
    return int(full[i])


class PathJudge:
    """``from_context`` for a judge read from ``scorer.path``, and the check that the folder is its family."""

    model_types: tuple[str, ...] = ()

    @classmethod
    def from_context(cls, ctx: Any):
        sc = ctx.cfg.run.scorer
        if not sc.path:
            raise ValueError(f"scorer {cls.__name__} needs scorer.path=DIR (a local {cls.model_types[0]} folder)")
        return cls(sc.path, device=str(ctx.device), dtype=torch_dtype(sc.dtype),
                   gradient_checkpointing=sc.gradient_checkpointing)

    def check_model_type(self, path: str) -> None:
        from transformers import AutoConfig

        model_type = AutoConfig.from_pretrained(str(path)).model_type
        if model_type not in self.model_types:
            raise ValueError(f"scorer.path={path}: model_type {model_type!r}; {type(self).__name__} reads "
                             f"{', '.join(self.model_types)} checkpoints")


class Qwen25VLScorer(PathJudge, HFVLMScorer):
    model_types = ("qwen2_5_vl",)
    generates_text = True  # a VIEScore / ImgEdit text judge too (benchmarks/judges/hf_text_judge.py)

    def __init__(self, path: str, device: str = "cpu", dtype: torch.dtype | None = None,
                 gradient_checkpointing: bool = False):
        self.check_model_type(path)
        super().__init__(str(path), device=device, trust_remote_code=False, dtype=dtype)
        if gradient_checkpointing:  # the gradient still reaches the pixels through a frozen checkpointed model
            self.model.gradient_checkpointing_enable()
            self.model.config.use_cache = False
        prompt = self.tokenizer.decode(self._ids("Answer Yes or No .", 1, 1))
        self.yes_id = answer_token_id(self.tokenizer, prompt, "Yes")
        self.no_id = answer_token_id(self.tokenizer, prompt, "No")

    def _ids(self, q: str, k: int, n_tok: int) -> list[int]:
        key = (q, k, n_tok)
        if key in self._prompt_cache:
            return self._prompt_cache[key]
        cfg, enc = self.model.config, (lambda s: self.tokenizer.encode(s, add_special_tokens=False))
        ids = enc(f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n")
        for _ in range(k):  # source first, then the edited image
            ids += [cfg.vision_start_token_id] + [cfg.image_token_id] * n_tok + [cfg.vision_end_token_id]
        ids += enc(q + ASSISTANT)
        self._prompt_cache[key] = ids
        return ids
