"""Tiny text encoder of the embedded world: word-level tokenizer + a small CLIP text transformer.

The tokenizer is built from ``harness.world.text.vocabulary()`` so every world word is one token.
The encoder has no pretraining: it is trained jointly with the teacher and frozen afterwards.
Both save/load with the ordinary Hugging Face ``save_pretrained`` / ``from_pretrained``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

from harness.world.text import vocabulary

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
# <eos> must not get id 2: CLIPTextModel treats eos_token_id == 2 as a legacy config and pools at
# argmax(input_ids) instead of at the <eos> position.
SPECIALS = (PAD, UNK, BOS, EOS)
MAX_LENGTH = 32


def build_tokenizer(words: list[str] | None = None, max_length: int = MAX_LENGTH) -> PreTrainedTokenizerFast:
    words = list(vocabulary() if words is None else words)
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for w in words:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # Every prompt ends in <eos>, so the empty prompt (CFG's unconditional) is a valid sequence.
    tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, vocab[EOS])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, unk_token=UNK, bos_token=BOS, eos_token=EOS,
        model_max_length=max_length, padding_side="right",
    )


def build_text_model(tokenizer, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4,
                     max_length: int = MAX_LENGTH) -> CLIPTextModel:
    cfg = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads, max_position_embeddings=max_length,
        projection_dim=hidden_size, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    return CLIPTextModel(cfg)


class TextEncoder(torch.nn.Module):
    """prompts -> (token embeddings [B, L, D], pooled [B, D]); L is fixed (padding to max_length)
    so a prompt's encoding never depends on the other prompts in its batch."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast, model: CLIPTextModel):
        super().__init__()
        self.tokenizer = tokenizer
        self.model = model
        self.max_length = int(model.config.max_position_embeddings)

    @classmethod
    def build(cls, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4,
              max_length: int = MAX_LENGTH) -> TextEncoder:
        tok = build_tokenizer(max_length=max_length)
        return cls(tok, build_text_model(tok, hidden_size, num_layers, num_heads, max_length))

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        if isinstance(prompts, str):
            raise TypeError("prompts must be a list of strings, got a single str")
        enc = self.tokenizer(list(prompts), padding="max_length", truncation=True,
                             max_length=self.max_length, return_tensors="pt")
        dev = self.model.device
        return {"input_ids": enc["input_ids"].to(dev), "attention_mask": enc["attention_mask"].to(dev)}

    def forward(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(**self.tokenize(prompts))
        return out.last_hidden_state, out.pooler_output

    def save_pretrained(self, root: str | Path, model_dir: str = "text_encoder", tokenizer_dir: str = "tokenizer"):
        root = Path(root)
        self.model.save_pretrained(root / model_dir, safe_serialization=True)
        self.tokenizer.save_pretrained(root / tokenizer_dir)

    @classmethod
    def from_pretrained(cls, root: str | Path, model_dir: str = "text_encoder",
                        tokenizer_dir: str = "tokenizer") -> TextEncoder:
        root = Path(root)
        tok = PreTrainedTokenizerFast.from_pretrained(root / tokenizer_dir)
        model = CLIPTextModel.from_pretrained(root / model_dir, use_safetensors=True)
        return cls(tok, model)
