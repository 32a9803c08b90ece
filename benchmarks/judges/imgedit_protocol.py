"""ImgEdit-style protocol: one text query per sample on (source, edited), one score from 1 to 5.

With the project's own prompt the reply must hold exactly one `Score: N` line. With an official
template (ImgEdit's prompts.json, one prompt per edit type, several `Name: N` criteria lines) the
sample's score is the mean of its criteria, as in the official step1_get_avgscore.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from .judge_cache import JudgeCache
from .judge_parsing import parse_named_scores
from .judge_rows import (
    JudgeRow,
    ask_with_retries,
    check_image,
    judge_all,
    match_size,
    sample_fields,
)
from .judge_templates import OWN_IMGEDIT, PromptTemplate, load_template
from .text_judge import Decoding, TextJudge

METRICS = ("imgedit_score",)


@dataclass
class ImgEditProtocol:
    template_path: str | Path | None = None  # a .json ({"prompt": ...} or {edit_type: prompt}) or a text file
    decoding: Decoding = field(default_factory=Decoding)
    max_retries: int = 2
    cache: JudgeCache | None = None
    resize_edited_to_source: bool = True

    name = "imgedit"
    scale = "1-5 (ImgEdit: the mean of the named scores of a reply)"
    version = "imgedit-harness-1"
    metrics = METRICS

    def __post_init__(self):
        if self.max_retries < 0:
            raise ValueError(f"imgedit.max_retries must be >= 0, got {self.max_retries}")
        if self.template_path:
            self.template: PromptTemplate = load_template(self.template_path, allow_plain_text=True)
            self._parse = partial(parse_named_scores, lo=1, hi=5)  # official: mean of the criteria lines
        else:
            self.template = OWN_IMGEDIT
            self._parse = partial(parse_named_scores, lo=1, hi=5, keys=("Score",))

    def prompt_key(self, category: str) -> str:
        """The prompt for a category: its own (per-edit-type templates) or the single "prompt"."""
        if category in self.template.prompts:
            return category
        if "prompt" in self.template.prompts:
            return "prompt"
        raise KeyError(f"judge template {self.template.source}: no prompt for edit type {category!r} "
                       f"and no 'prompt' fallback; it has {sorted(self.template.prompts)}")

    def judge_sample(self, judge: TextJudge, sample, edited: torch.Tensor) -> JudgeRow:
        sid, category, instruction, source = sample_fields(sample)
        check_image(source, f"sample {sid}: source")
        check_image(edited, f"sample {sid}: edited output")
        if self.resize_edited_to_source:
            edited = match_size(edited, source)
        key = self.prompt_key(category)
        q = ask_with_retries(judge, "score", [source, edited], self.template.render(key, instruction), self._parse,
                             decoding=self.decoding, protocol_version=self.version, max_retries=self.max_retries,
                             cache=self.cache)
        return JudgeRow(sample_id=sid, category=category, protocol=self.name, protocol_version=self.version,
                        template_id=self.template.template_id, judge_id=judge.judge_id,
                        decoding=self.decoding.to_dict(), queries=[q],
                        metrics={"imgedit_score": q.scores[0] if q.scores else None}, parse_ok=q.parse_ok,
                        extra={"prompt_key": key, "named_scores": q.extra.get("named")})

    def judge(self, judge: TextJudge, samples, outputs) -> list[JudgeRow]:
        return judge_all(self, judge, samples, outputs)
