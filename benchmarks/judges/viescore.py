"""VIEScore-style protocol (the GEdit-Bench "tie" task): per sample two text queries.

SC query (source, edited): [edit success, over-editing], 0-10 each; SC = min of the two.
PQ query (edited only):    [naturalness, artifacts],     0-10 each; PQ = min of the two.
O = sqrt(SC * PQ) per sample (averaged later; never sqrt of averaged SC and PQ).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .judge_cache import JudgeCache
from .judge_parsing import parse_score_list
from .judge_rows import (
    JudgeRow,
    ask_with_retries,
    check_image,
    judge_all,
    match_size,
    sample_fields,
)
from .judge_templates import OWN_VIESCORE, PromptTemplate, load_template
from .text_judge import Decoding, TextJudge

METRICS = ("viescore_SC", "viescore_PQ", "viescore_O", "viescore_edit_success", "viescore_over_editing",
           "viescore_naturalness", "viescore_artifacts")


@dataclass
class VIEScoreProtocol:
    template_path: str | Path | None = None  # e.g. a JSON file holding the official SC and PQ prompts
    decoding: Decoding = field(default_factory=Decoding)
    max_retries: int = 2
    cache: JudgeCache | None = None
    resize_edited_to_source: bool = True  # what the official GEdit scorer does before judging

    name = "viescore"
    scale = "0-10 (VIEScore: SC, PQ and O = sqrt(SC * PQ) per sample)"
    version = "viescore-harness-1"  # bump when prompts assembly, parsing or the metric rule changes
    metrics = METRICS

    def __post_init__(self):
        if self.max_retries < 0:
            raise ValueError(f"viescore.max_retries must be >= 0, got {self.max_retries}")
        self.template: PromptTemplate = (load_template(self.template_path, required=("sc", "pq"))
                                         if self.template_path else OWN_VIESCORE)

    def judge_sample(self, judge: TextJudge, sample, edited: torch.Tensor) -> JudgeRow:
        sid, category, instruction, source = sample_fields(sample)
        check_image(source, f"sample {sid}: source")
        check_image(edited, f"sample {sid}: edited output")
        if self.resize_edited_to_source:
            edited = match_size(edited, source)
        ask = {"decoding": self.decoding, "protocol_version": self.version, "max_retries": self.max_retries,
               "cache": self.cache}
        sc = ask_with_retries(judge, "sc", [source, edited], self.template.render("sc", instruction),
                              parse_score_list, **ask)
        pq = ask_with_retries(judge, "pq", [edited], self.template.render("pq", ""), parse_score_list, **ask)
        return JudgeRow(sample_id=sid, category=category, protocol=self.name, protocol_version=self.version,
                        template_id=self.template.template_id, judge_id=judge.judge_id,
                        decoding=self.decoding.to_dict(), queries=[sc, pq],
                        metrics=viescore_metrics(sc.scores, pq.scores), parse_ok=sc.parse_ok and pq.parse_ok,
                        extra={"resize_edited_to_source": self.resize_edited_to_source})

    def judge(self, judge: TextJudge, samples, outputs) -> list[JudgeRow]:
        return judge_all(self, judge, samples, outputs)


def viescore_metrics(sc_scores: list[float] | None, pq_scores: list[float] | None) -> dict[str, float | None]:
    """Per-sample metrics; a part that did not parse stays None, and so does O."""
    sc = min(sc_scores) if sc_scores else None
    pq = min(pq_scores) if pq_scores else None
    o = math.sqrt(sc * pq) if sc is not None and pq is not None else None
    return {
        "viescore_SC": sc, "viescore_PQ": pq, "viescore_O": o,
        "viescore_edit_success": sc_scores[0] if sc_scores else None,
        "viescore_over_editing": sc_scores[1] if sc_scores else None,
        "viescore_naturalness": pq_scores[0] if pq_scores else None,
        "viescore_artifacts": pq_scores[1] if pq_scores else None,
    }
