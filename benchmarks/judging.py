"""How a benchmark without ground truth (gedit, imgedit) is scored: a judge protocol.

``<suite>.judge.*`` picks the scorer and the mode. ``mode=auto`` uses the suite's text protocol
(VIEScore for gedit, ImgEdit 1-5 for imgedit) when the scorer generates text (``hf``, ``qwen2_5_vl``,
``llava_onevision``, ``internvl``: a scorer with ``generates_text``, or a plugin that is a ``TextJudge``), and the P(Yes) protocol otherwise: the embedded tiny judge cannot
generate text, so its rows say ``protocol=pyes`` and its metrics are named ``pyes_*``.
The protocols live in ``benchmarks.judges``; this module only wires a suite to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd
import torch

from harness.config import ConfigError

MODES = ("auto", "pyes", "text")


@dataclass
class JudgeChoice:
    """``<suite>.judge.*``."""

    scorer: str = "tiny"  # a registered scorer: tiny (embedded), hf (scorer_path=DIR), or a plugin
    mode: str = field(default="auto", metadata={"choices": list(MODES)})
    template: Optional[str] = None  # text mode: a template file (e.g. the official prompts as JSON); default: ours
    temperature: float = field(default=0.0, metadata={"ge": 0.0})  # > 0 samples and bypasses the cache
    max_new_tokens: int = field(default=512, metadata={"ge": 1})
    max_retries: int = field(default=2, metadata={"ge": 0})  # re-queries after a reply that does not parse
    cache: bool = True  # $HARNESS_HOME/judge_cache/: the same question to the same judge is asked once

    def validate(self) -> None:
        from harness import registry

        if self.scorer not in registry.scorers.names():
            raise ValueError(f"judge.scorer={self.scorer!r} is not a registered scorer; "
                             f"known: {', '.join(registry.scorers.names())}")
        if self.mode == "pyes" and self.template:
            raise ValueError("judge.template applies to mode=text only (P(Yes) asks fixed yes/no questions)")
        if self.template and not Path(self.template).expanduser().is_file():
            raise ValueError(f"judge.template={self.template} is not a file")


def _is_text_judge(obj: Any) -> bool:
    from benchmarks.judges.text_judge import TextJudge

    return isinstance(obj, TextJudge)


def build_judge(suite: Any, text_protocol: str) -> tuple[Any, Any, str]:
    """(protocol, judge, mode) for a suite; built once per suite."""
    from harness.cache import harness_home
    from benchmarks.judges import protocols
    from benchmarks.judges.pyes_protocol import GENERIC_SC
    from harness.scorers.build import build_scorer

    jc, ctx = suite.cfg.judge, suite.ctx
    scorer = build_scorer(jc.scorer, ctx)
    can_talk = _is_text_judge(scorer) or jc.scorer == "hf" or getattr(scorer, "generates_text", False)
    mode = jc.mode if jc.mode != "auto" else ("text" if can_talk else "pyes")
    if mode == "pyes":
        if not hasattr(scorer, "reward"):
            raise ConfigError(f"{suite.name}.judge.scorer={jc.scorer} has no yes/no reward(); use judge.mode=text")
        # generic questions: the shapes-world questions need scene graphs a benchmark sample lacks
        return protocols.PyesProtocol(sc_questions=GENERIC_SC), scorer, mode
    if not can_talk:
        raise ConfigError(f"{suite.name}.judge.scorer={jc.scorer} cannot generate text; use {suite.name}.judge.mode=pyes")
    judge = scorer if _is_text_judge(scorer) else _hf_text_judge(scorer, jc.scorer)
    cache = protocols.JudgeCache(harness_home() / "judge_cache" / f"{text_protocol}.jsonl") if jc.cache else None
    cls = {"viescore": protocols.VIEScoreProtocol, "imgedit": protocols.ImgEditProtocol}[text_protocol]
    proto = cls(template_path=jc.template, decoding=protocols.Decoding(jc.temperature, jc.max_new_tokens),
                max_retries=jc.max_retries, cache=cache)
    return proto, judge, mode


def _hf_text_judge(scorer: Any, name: str) -> Any:
    from benchmarks.judges.hf_text_judge import HFTextJudge

    return HFTextJudge(scorer, name=name)


def judge(suite: Any, text_protocol: str, samples: Sequence, outputs: torch.Tensor) -> pd.DataFrame:
    """One row per sample: ``sample_id``, ``category``, the protocol's metrics (None where a reply did
    not parse: never a substitute) and its audit columns: protocol, judge_id, template_id, template_path,
    judge_mode, parse_ok, retries, raw replies."""
    if not hasattr(suite, "_judge"):
        suite._judge = build_judge(suite, text_protocol)
    proto, judge_obj, mode = suite._judge
    rows = proto.judge(judge_obj, list(samples), outputs)
    df = pd.DataFrame([r.to_record() for r in rows])
    df["template_path"] = proto.template.source  # "builtin" (our text) or the official file given
    df["judge_scale"] = getattr(proto, "scale", "")  # one scale per protocol, stated in summary and report
    df["judge_mode"] = "P(Yes) of yes/no questions (not VIEScore)" if mode == "pyes" else f"text ({proto.name})"
    return df
