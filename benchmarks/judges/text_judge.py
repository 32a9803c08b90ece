"""The contract of a judge that answers in text (a generative VLM or an API), and its decoding knobs.

Protocols (VIEScore-style, ImgEdit-style) only need `generate`; how the model is loaded or called is
the adapter's business (see hf_text_judge.py for local Hugging Face VLMs).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class Decoding:
    """Decoding parameters; all of them are part of the judge-cache key."""

    temperature: float = 0.0  # 0: greedy. > 0: sampling, which bypasses the judge cache
    max_new_tokens: int = 512
    seed: int = 42  # sampling seed of the first attempt; retry k uses seed + k

    def __post_init__(self):
        if self.temperature < 0:
            raise ValueError(f"decoding.temperature must be >= 0, got {self.temperature}")
        if self.max_new_tokens < 1:
            raise ValueError(f"decoding.max_new_tokens must be >= 1, got {self.max_new_tokens}")

    @property
    def sampling(self) -> bool:
        return self.temperature > 0

    def to_dict(self) -> dict:
        return asdict(self)


class TextJudge(ABC):
    """A judge that reads images + a prompt and replies in text.

    `judge_id` names the exact model (and version/snapshot) so cached and reported judgements are
    never mixed across judges. `deterministic` says whether greedy decoding returns the same text for
    the same input (a local model: yes; a remote API: not guaranteed); protocols skip pointless
    greedy retries only when it is True.
    """

    judge_id: str = ""
    deterministic: bool = False

    @abstractmethod
    def generate(self, images: list[torch.Tensor], prompt: str, temperature: float, max_new_tokens: int,
                 seed: int | None) -> str:
        """Reply to `prompt` about `images` (each [3, H, W] float in [0, 1], in prompt order)."""

    def generate_with(self, images: list[torch.Tensor], prompt: str, decoding: Decoding, attempt: int = 0) -> str:
        return self.generate(images, prompt, decoding.temperature, decoding.max_new_tokens, decoding.seed + attempt)
