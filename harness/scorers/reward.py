"""The judge's verdict on edits, without gradient: P(correct answer) for the edit-verification and
the identity-preservation question of each sample. Flow-GRPO's reward; also the judge's view
of any method's outputs, to set beside the oracle (the gap is the reward-hacking meter)."""

from __future__ import annotations

from typing import Sequence

import torch

from harness.scorers.questions import questions_for


@torch.no_grad()
def judge_verdicts(scorer, source: torch.Tensor, output: torch.Tensor, samples: Sequence) -> dict[str, torch.Tensor]:
    """{"edit": [B], "identity": [B]}: probability the judge gives the correct answer."""
    verdicts = {}
    for k, kind in enumerate(("edit", "identity")):
        qs = [questions_for(s)[k] for s in samples]
        p = torch.zeros(len(qs))
        for n_images in (1, 2):
            idx = [i for i, q in enumerate(qs) if q.n_images == n_images]
            if not idx:
                continue
            images = [output[idx]] if n_images == 1 else [source[idx], output[idx]]
            p_yes = scorer.reward(images, [qs[i].text for i in idx]).float().cpu()
            expected = torch.tensor([qs[i].expected for i in idx])
            p[idx] = torch.where(expected, p_yes, 1 - p_yes)
        verdicts[kind] = p
    return verdicts
