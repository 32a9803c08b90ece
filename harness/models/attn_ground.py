"""Cross-attention grounding for the teacher: each object's words must look at that object's pixels.

The teacher's remaining errors are binding errors: the right shapes in the wrong colours, one caption
colour drawn twice (docs/embedded_models_sweeps.md). TokenCompose (Wang et al., CVPR 2024) fixes
multi-object composition in Stable Diffusion by supervising the cross-attention maps with object
masks; the embedded world has exact masks for every training image. For every captioned object,
its shape word (which holds the (colour, shape) pair: the text encoder is causal) and for the
background its closing word "background":

- token loss ``(1 - sum_{p in mask} A[p] / sum_p A[p])^2``: the word's attention mass lies on its object;
- pixel loss ``BCE(A[p], mask[p])``: the object's cells attend to its word.

``A`` is the attention of each UNet cross-attention layer (averaged over heads) from the image
positions to that token. The recording processors are training-only and removed before saving.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from harness.world.palette import COLORS, SHAPES
from harness.world.render import object_mask


class RecordingCrossAttnProcessor:
    """diffusers' ``AttnProcessor`` for plain cross-attention (no norms, no residual: checked by
    ``_cross_attention_layers``), keeping the head-averaged attention probabilities [B, queries, tokens] of
    the last call."""

    def __init__(self):
        self.probs: torch.Tensor | None = None

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        bsz, n_q, _ = hidden_states.shape
        attention_mask = attn.prepare_attention_mask(attention_mask, encoder_hidden_states.shape[1], bsz)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
        value = attn.head_to_batch_dim(attn.to_v(encoder_hidden_states))
        probs = attn.get_attention_scores(query, key, attention_mask)  # [B * heads, Q, K]
        self.probs = probs.view(bsz, attn.heads, n_q, -1).mean(1)
        out = attn.batch_to_head_dim(torch.bmm(probs, value))
        out = attn.to_out[1](attn.to_out[0](out))
        return out / attn.rescale_output_factor


def _cross_attention_layers(transformer) -> dict:
    """{name: Attention} of the UNet's cross-attention layers; refuses what the processor does not cover."""
    from diffusers.models.attention_processor import Attention

    if type(transformer).__name__ != "UNet2DConditionModel":
        raise ValueError(f"attention grounding supports the UNet teacher (separate cross-attention layers), "
                         f"not {type(transformer).__name__}: set attn_ground_weight=0")
    layers = {n: m for n, m in transformer.named_modules() if isinstance(m, Attention) and m.is_cross_attention}
    if not layers:
        raise ValueError("attention grounding needs cross-attention layers (unet_attention_levels >= 1)")
    for name, m in layers.items():
        if m.spatial_norm is not None or m.group_norm is not None or m.norm_cross or m.residual_connection:
            raise ValueError(f"attention grounding: cross-attention layer {name} uses norms or a residual the "
                             f"recording processor does not implement")
    return layers


def grounding_targets(scenes, captions: list[str], resolution: int):
    """(token index [B, J] (-1: none), pixel masks [B, J, H, W]) for each captioned object's shape word and
    the closing word "background". Two objects with the same colour and shape share one mask; a dropped
    caption ("") has no targets. Token index = word index (the word-level tokenizer has no <bos>)."""
    rows = []
    for scene, text in zip(scenes, captions):
        words = text.split()
        masks = {}
        for o in scene.objects:
            m = object_mask(o, resolution).astype(np.float32)
            masks[(o.color, o.shape)] = np.maximum(masks.get((o.color, o.shape), 0), m)
        row = []
        if words:
            for i in range(1, len(words)):
                if words[i] in SHAPES and words[i - 1] in COLORS:
                    row.append((i, masks[(words[i - 1], words[i])]))
            covered = np.clip(sum(masks.values()) if masks else np.zeros((resolution, resolution), np.float32), 0, 1)
            row.append((len(words) - 1, 1.0 - covered))
        rows.append(row)
    j = max(1, max(len(r) for r in rows))
    idx = torch.full((len(rows), j), -1, dtype=torch.long)
    out = torch.zeros(len(rows), j, resolution, resolution)
    for b, row in enumerate(rows):
        for k, (i, m) in enumerate(row):
            idx[b, k] = i
            out[b, k] = torch.from_numpy(np.asarray(m, np.float32))
    return idx, out


class AttnGround:
    """Installs recording processors on the UNet's cross-attention layers; ``loss`` reads the last forward."""

    def __init__(self, transformer):
        self._layers = _cross_attention_layers(transformer)
        self._saved = {n: m.processor for n, m in self._layers.items()}
        self._rec = {n: RecordingCrossAttnProcessor() for n in self._layers}
        for n, m in self._layers.items():
            m.set_processor(self._rec[n])

    def remove(self) -> None:
        for n, m in self._layers.items():
            m.set_processor(self._saved[n])

    def loss(self, scenes, captions: list[str], t: torch.Tensor, resolution: int,
             t_weighting: str = "1-t") -> torch.Tensor:
        """Mean over layers, captioned rows and their words of token + pixel loss, each row weighted by
        (1 - t) (``t_weighting="none"``: unweighted)."""
        probs = [r.probs for r in self._rec.values()]
        if any(p is None for p in probs):
            raise RuntimeError("AttnGround.loss needs a forward pass of the denoiser first")
        idx, masks = grounding_targets(scenes, captions, resolution)
        dev = probs[0].device
        idx, masks = idx.to(dev), masks.to(dev)
        valid = (idx >= 0).float()  # [B, J]
        per_row = torch.zeros(idx.shape[0], device=dev)
        for p in probs:  # [B, Q, K]
            g = round(p.shape[1] ** 0.5)
            m = F.adaptive_avg_pool2d(masks, g).flatten(2)  # [B, J, Q] share of each position's pixels
            a = torch.gather(p.transpose(1, 2), 1, idx.clamp(min=0)[..., None].expand(-1, -1, p.shape[1]))
            token = (1 - (a * m).sum(-1) / a.sum(-1).clamp(min=1e-8)) ** 2  # [B, J]
            pixel = F.binary_cross_entropy(a.clamp(1e-6, 1 - 1e-6), (m > 0.5).float(), reduction="none").mean(-1)
            per_row = per_row + ((token + pixel) * valid).sum(1) / valid.sum(1).clamp(min=1)
        for r in self._rec.values():
            r.probs = None
        per_row = per_row / len(probs)
        has = (valid.sum(1) > 0).float()
        w = has if t_weighting == "none" else has * (1 - t.to(per_row))
        return (per_row * w).sum() / has.sum().clamp(min=1)
