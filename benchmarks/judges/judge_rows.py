"""Shared pieces of the judge protocols: result rows, the query-parse-retry loop, input checks."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from .judge_cache import JudgeCache, cached_generate
from .judge_parsing import ParseResult
from .judge_templates import text_sha256
from .text_judge import Decoding, TextJudge


@dataclass
class QueryRecord:
    """One judge question of one sample, with every attempt's raw reply."""

    name: str  # "sc", "pq", "score", or a yes/no question name
    prompt_sha256: str
    raw_replies: list[str] = field(default_factory=list)
    parse_ok: bool = False
    retries: int = 0  # attempts after the first (re-queries happen on parse failure only)
    error: str = ""  # last parse error; "" when parsed
    scores: list[float] | None = None
    reasoning: str | None = None
    from_cache: list[bool] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


@dataclass
class JudgeRow:
    """One sample's judgement under one protocol."""

    sample_id: str
    category: str
    protocol: str  # "viescore" | "imgedit" | "pyes"
    protocol_version: str
    template_id: str
    judge_id: str
    decoding: dict
    queries: list[QueryRecord]
    metrics: dict[str, float | None]  # protocol-prefixed names; None when not parsed
    parse_ok: bool = False  # every query parsed
    extra: dict = field(default_factory=dict)

    @property
    def retries(self) -> int:
        return sum(q.retries for q in self.queries)

    def to_record(self) -> dict[str, Any]:
        """Flat JSON-ready dict: id columns, one column per metric, then the audit trail."""
        rec: dict[str, Any] = {"sample_id": self.sample_id, "category": self.category, **self.metrics}
        rec.update({
            "protocol": self.protocol, "protocol_version": self.protocol_version,
            "template_id": self.template_id, "judge_id": self.judge_id,
            "decoding": json.dumps(self.decoding, sort_keys=True),
            "parse_ok": self.parse_ok, "retries": self.retries,
            "raw_replies": json.dumps({q.name: q.raw_replies for q in self.queries}, ensure_ascii=False),
            "parse_errors": json.dumps({q.name: q.error for q in self.queries if q.error}, ensure_ascii=False),
        })
        return rec

    def to_dict(self) -> dict:
        return asdict(self)


def _get(sample, key: str):
    return sample[key] if isinstance(sample, dict) else getattr(sample, key)


def sample_fields(sample) -> tuple[str, str, str, torch.Tensor]:
    """(id, category, instruction, source [3,H,W]) of an EditSample-like object or dict."""
    try:
        sid = _get(sample, "id") if not isinstance(sample, dict) or "id" in sample else sample["sample_id"]
        return str(sid), str(_get(sample, "category")), str(_get(sample, "instruction")), _get(sample, "source")
    except (KeyError, AttributeError) as e:
        raise ValueError(f"sample {sample!r:.80} lacks field {e}; needs id, category, instruction, source") from None


def check_image(img: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(img, torch.Tensor) or img.dim() != 3 or img.shape[0] != 3:
        shape = tuple(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__
        raise ValueError(f"{what} must be a [3, H, W] tensor in [0, 1], got {shape}")
    return img


def match_size(edited: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Resize the edited image to the source size (the official GEdit scorer does the same)."""
    if edited.shape[-2:] == source.shape[-2:]:
        return edited
    x = F.interpolate(edited[None].float(), size=tuple(source.shape[-2:]), mode="bicubic", antialias=True,
                      align_corners=False)
    return x[0].clamp(0, 1)


def ask_with_retries(judge: TextJudge, name: str, images: list[torch.Tensor], prompt: str, parse,
                     decoding: Decoding, protocol_version: str, max_retries: int,
                     cache: JudgeCache | None = None) -> QueryRecord:
    """Query, parse; re-query only when parsing failed, at most `max_retries` more times.

    Greedy re-queries of a deterministic judge would return the same text, so they are skipped.
    """
    rec = QueryRecord(name=name, prompt_sha256=text_sha256(prompt))
    attempts = 1 + max_retries
    if not decoding.sampling and judge.deterministic:
        attempts = 1
    for attempt in range(attempts):
        reply, hit = cached_generate(judge, images, prompt, decoding, protocol_version, attempt, cache=cache)
        rec.raw_replies.append(reply)
        rec.from_cache.append(hit)
        rec.retries = attempt
        res: ParseResult = parse(reply)
        rec.parse_ok, rec.error = res.ok, res.error
        if res.ok:
            rec.scores, rec.reasoning, rec.extra = res.scores, res.reasoning, res.extra
            break
    return rec


def outputs_list(outputs, n: int) -> list[torch.Tensor]:
    """Outputs as a list of [3,H,W] (a [N,3,H,W] tensor or a list, sizes may differ per sample)."""
    items = list(outputs.unbind(0)) if isinstance(outputs, torch.Tensor) else list(outputs)
    if len(items) != n:
        raise ValueError(f"{len(items)} outputs for {n} samples")
    return items


def judge_all(protocol, judge, samples: Sequence, outputs) -> list[JudgeRow]:
    """Run `protocol.judge_sample` over samples and their outputs (shared by all protocols)."""
    outs = outputs_list(outputs, len(samples))
    return [protocol.judge_sample(judge, s, o) for s, o in zip(samples, outs)]
