"""Pretraining of the teacher's tiny text encoder on what its captions state, before flow matching.

Real text-to-image models start from a pretrained text encoder (CLIP, T5); ours starts at random and
otherwise learns only from the denoising loss, a weak and slow signal for "which colour goes with which
shape". Here the encoder first learns, from the caption alone (no images, a few seconds):
- at each object's shape word, its (colour, shape) pair ("a red circle and ..." -> "circle" says (red,
  circle)), and at the background word the background colour: the encoder is causal (CLIP), so the
  shape word is the first that can hold the binding, and cross-attention to it then reads it whole;
- the pooled output: the set of (colour, shape) pairs (multi-hot), the background and the object count.
The heads are thrown away; only the encoder is kept.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from harness.embedded.optim import adamw
from harness.world.palette import BACKGROUNDS, COLORS, SHAPES
from harness.world.scene import MAX_OBJECTS, random_scene
from harness.world.text import caption

PAIRS = [(c, s) for s in SHAPES for c in COLORS]
BGS = list(BACKGROUNDS)
IGNORE = -100  # tokens without a target (articles, colour words, "and", "on", <eos>, padding)


def caption_targets(scene, text_encoder) -> tuple[list[int], list[float], int, int]:
    """(per-token class, multi-hot over PAIRS, background index, object count) for ``caption(scene)``.
    Token classes follow the word-level tokenizer: one token per word, then <eos>."""
    words = caption(scene).split()
    per_word = [IGNORE] * len(words)
    for i in range(1, len(words)):  # "<colour> <shape>" names one object
        if words[i] in SHAPES and words[i - 1] in COLORS:
            per_word[i] = PAIRS.index((words[i - 1], words[i]))
    per_word[-1] = len(PAIRS) + BGS.index(scene.background)  # the closing word "background"
    tokens = per_word + [IGNORE] * (text_encoder.max_length - len(words))
    multi = [0.0] * len(PAIRS)
    for o in scene.objects:
        multi[PAIRS.index((o.color, o.shape))] = 1.0
    return tokens[:text_encoder.max_length], multi, BGS.index(scene.background), len(scene.objects)


def pretrain_text_encoder(text_encoder, steps: int, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
                          min_objects: int = 1, max_objects: int = 3) -> dict:
    """Train ``text_encoder`` in place on the caption targets above; returns the last accuracies."""
    d = text_encoder.hidden_size
    dev = next(text_encoder.parameters()).device
    heads = torch.nn.ModuleDict({"token": torch.nn.Linear(d, len(PAIRS) + len(BGS)),
                                 "pairs": torch.nn.Linear(d, len(PAIRS)), "bg": torch.nn.Linear(d, len(BGS)),
                                 "count": torch.nn.Linear(d, MAX_OBJECTS + 1)})
    heads.to(dev)
    params = list(text_encoder.parameters()) + list(heads.parameters())
    opt = adamw(params, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 303]))
    text_encoder.train()
    acc: dict = {}
    for step in range(steps):
        scenes = [random_scene(rng, min_objects, max_objects) for _ in range(batch_size)]
        rows = [caption_targets(s, text_encoder) for s in scenes]
        tok_y = torch.tensor([r[0] for r in rows], device=dev)
        multi_y = torch.tensor([r[1] for r in rows], device=dev)
        bg_y = torch.tensor([r[2] for r in rows], device=dev)
        n_y = torch.tensor([r[3] for r in rows], device=dev)
        tokens, pooled = text_encoder([caption(s) for s in scenes])
        tok_logits = heads["token"](tokens)
        loss = (F.cross_entropy(tok_logits.flatten(0, 1), tok_y.flatten(), ignore_index=IGNORE)
                + F.binary_cross_entropy_with_logits(heads["pairs"](pooled), multi_y)
                + F.cross_entropy(heads["bg"](pooled), bg_y) + F.cross_entropy(heads["count"](pooled), n_y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step == steps - 1:
            with torch.no_grad():
                acc = {"loss": float(loss),
                       "token": float((tok_logits.argmax(-1) == tok_y)[tok_y != IGNORE].float().mean()),
                       "pairs": float(((heads["pairs"](pooled) > 0).float() == multi_y).all(1).float().mean()),
                       "bg": float((heads["bg"](pooled).argmax(-1) == bg_y).float().mean()),
                       "count": float((heads["count"](pooled).argmax(-1) == n_y).float().mean())}
    return acc
