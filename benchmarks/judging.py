"""How a benchmark without ground truth (gedit, imgedit) is scored: a judge protocol.

``<suite>.judge.*`` picks the scorer and the mode. ``mode=auto`` uses the text protocol
(VIEScore for gedit, ImgEdit 1-5 for imgedit) when the scorer generates text, and the P(Yes)
protocol otherwise (the embedded tiny judge cannot generate text; its rows are labelled ``pyes``).
The protocols live in ``harness.scorers.protocols``; this module only wires a suite to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pandas as pd
import torch

MODES = ("auto", "pyes", "text")


@dataclass
class JudgeChoice:
    """``<suite>.judge.*``."""

    scorer: str = "tiny"  # a registered scorer: tiny (embedded), hf (scorer_path=DIR), or a plugin
    mode: str = field(default="auto", metadata={"choices": list(MODES)})
    template: Optional[str] = None  # a template file (e.g. the official prompts as JSON); default: ours
    temperature: float = field(default=0.0, metadata={"ge": 0.0})  # > 0 samples and bypasses the cache
    max_new_tokens: int = field(default=512, metadata={"ge": 1})
    max_retries: int = field(default=2, metadata={"ge": 0})  # re-queries after a reply that does not parse
    cache: bool = True  # $HARNESS_HOME/judge_cache: the same question to the same judge is asked once


# Metric columns per protocol, for reports that want them in a fixed order.
METRICS: dict[str, tuple[str, ...]] = {"viescore": (), "imgedit": (), "pyes": ()}


def judge(suite: Any, text_protocol: str, samples: Sequence, outputs: torch.Tensor) -> pd.DataFrame:
    """One row per sample: ``sample_id``, ``category``, the protocol's metrics and its audit columns
    (protocol, template_id, judge_id, parse_ok, raw replies)."""
    raise NotImplementedError("judge protocols (harness.scorers.protocols) are not wired in yet")
