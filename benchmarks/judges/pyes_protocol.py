"""P(Yes)-based judge mode for scorers that do not generate text (the embedded tiny judge).

Each sub-score is 10 * P(the answer a perfect edit gets) of one yes/no question, read from
`Scorer.reward` (softmax over the Yes/No logits). SC-like = min(edit success, over-editing),
PQ-like = min(naturalness, artifacts), O-like = sqrt(SC * PQ) per sample. This is NOT VIEScore:
rows say protocol="pyes" and the metrics are named pyes_*. Nothing is parsed, so parse_ok is True
whenever the scorer returned a finite probability.

Default questions: on shapes-world samples (a known category and an object name), the judge's own
edit / identity questions (questions.py, the ones it was trained on); elsewhere generic ones below. The PQ questions are
generic: a scorer whose vocabulary lacks their words still answers, and each query records how
many of its tokens were unknown (`unk_tokens`) so such numbers can be discounted.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

import torch

from harness.scorers.questions import TEMPLATES, questions_for

from .judge_rows import (
    JudgeRow,
    QueryRecord,
    check_image,
    match_size,
    outputs_list,
    sample_fields,
)
from .judge_templates import PromptTemplate, text_sha256

METRICS = ("pyes_SC", "pyes_PQ", "pyes_O", "pyes_edit_success", "pyes_over_editing", "pyes_naturalness",
           "pyes_artifacts")


@dataclass(frozen=True)
class PyesQuestion:
    name: str  # edit_success | over_editing | naturalness | artifacts
    text: str  # may use {instruction} and {obj}
    n_images: int  # 1: the edited image only; 2: source first, then edited
    expected: bool = True  # the answer a perfect edit gets; the sub-score is 10 * P(that answer)

    def __post_init__(self):
        if self.n_images not in (1, 2):
            raise ValueError(f"pyes question {self.name!r}: n_images must be 1 or 2, got {self.n_images}")


GENERIC_SC = (
    PyesQuestion("edit_success", "the second image is the first one after the request : {instruction} . "
                 "was the request done ? Answer Yes or No .", 2),
    PyesQuestion("over_editing", "the second image is the first one after the request : {instruction} . "
                 "apart from what the request names , is the second image the same as the first ? "
                 "Answer Yes or No .", 2),
)
GENERIC_PQ = (
    PyesQuestion("naturalness", "does the image look natural ? Answer Yes or No .", 1),
    PyesQuestion("artifacts", "is the image free of blur , noise and other artifacts ? Answer Yes or No .", 1),
)


def scorer_judge_id(scorer) -> str:
    """A stable name for a P(Yes) scorer: its own judge_id, the tiny judge's config hash, or its path."""
    if getattr(scorer, "judge_id", None):
        return str(scorer.judge_id)
    cfg = getattr(scorer, "cfg", None)
    if cfg is not None and hasattr(cfg, "version"):
        blob = json.dumps(asdict(cfg), sort_keys=True, default=str)
        return f"tiny-judge:{cfg.version}:{hashlib.sha256(blob.encode()).hexdigest()[:12]}"
    return f"{type(scorer).__name__}:{getattr(scorer, 'path', '?')}"


def unk_tokens(scorer, text: str) -> int | None:
    """How many tokens of `text` the scorer's tokenizer maps to its unknown token (None: cannot tell)."""
    tok = getattr(scorer, "tokenizer", None)
    unk = getattr(tok, "unk_token_id", None) if tok is not None else None
    if unk is None:
        return None
    return sum(1 for i in tok.encode(text, add_special_tokens=False) if i == unk)


@dataclass
class PyesProtocol:
    sc_questions: tuple[PyesQuestion, PyesQuestion] | None = None  # None: questions.py on shapes, else GENERIC_SC
    pq_questions: tuple[PyesQuestion, PyesQuestion] = GENERIC_PQ
    resize_edited_to_source: bool = True
    batch_size: int = 64

    name = "pyes"
    # every pyes_* metric on one scale: 10 x P(the answer a perfect edit gets); a generic question the judge
    # barely knows reads low (e.g. 0.4 = P 0.04), not on another scale (issue 27: 8.77 beside values below 1)
    scale = "0-10 (every pyes_* metric: 10 x P(the answer a perfect edit gets))"
    version = "pyes-harness-1"
    metrics = METRICS

    def __post_init__(self):
        for group, qs in (("sc_questions", self.sc_questions), ("pq_questions", self.pq_questions)):
            if qs is not None and len(qs) != 2:
                raise ValueError(f"pyes.{group} must hold 2 questions, got {len(qs)}")
        prompts = {q.name: q.text for q in (self.sc_questions or GENERIC_SC) + tuple(self.pq_questions)}
        if self.sc_questions is None:  # the shapes-world questions are part of what produced the numbers
            prompts["shapes_questions"] = json.dumps({c: [t.text for t in ts] for c, ts in TEMPLATES.items()},
                                                     sort_keys=True)
        self.template = PromptTemplate(name="harness-pyes-v1", prompts=prompts)

    def questions(self, sample) -> list[tuple[PyesQuestion, str]]:
        """[(question, filled text)] in order edit_success, over_editing, naturalness, artifacts."""
        _, category, instruction, _ = sample_fields(sample)
        obj = sample.get("object_name") if isinstance(sample, dict) else getattr(sample, "object_name", None)
        # the shapes-world questions need the sample's object name; benchmark samples lack it
        if self.sc_questions is None and category in TEMPLATES and obj:
            edit, ident = questions_for(sample)
            sc = [(PyesQuestion("edit_success", "", edit.n_images, edit.expected), edit.text),
                  (PyesQuestion("over_editing", "", ident.n_images, ident.expected), ident.text)]
        else:
            sc = [(q, q.text.format(instruction=instruction, obj=obj or "object"))
                  for q in (self.sc_questions or GENERIC_SC)]
        pq = [(q, q.text.format(instruction=instruction, obj="object")) for q in self.pq_questions]
        return sc + pq

    @torch.no_grad()
    def judge(self, scorer, samples, outputs) -> list[JudgeRow]:
        outs = outputs_list(outputs, len(samples))
        prepared = []
        for s, e in zip(samples, outs):
            sid, category, _, source = sample_fields(s)
            check_image(source, f"sample {sid}: source")
            check_image(e, f"sample {sid}: edited output")
            if self.resize_edited_to_source:
                e = match_size(e, source)
            prepared.append((sid, category, source, e, self.questions(s)))
        # one batched reward call per (question slot, n_images, image size)
        p_expected: dict[tuple[int, int], float] = {}
        for slot in range(4):
            groups: dict[tuple, list[int]] = {}
            for i, (_, _, src, e, qs) in enumerate(prepared):
                groups.setdefault((qs[slot][0].n_images, tuple(src.shape), tuple(e.shape)), []).append(i)
            for (n_images, _, _), idx in groups.items():
                for b in range(0, len(idx), self.batch_size):
                    chunk = idx[b:b + self.batch_size]
                    edited = torch.stack([prepared[i][3] for i in chunk])
                    images = [edited] if n_images == 1 else [torch.stack([prepared[i][2] for i in chunk]), edited]
                    p_yes = scorer.reward(images, [prepared[i][4][slot][1] for i in chunk]).float().cpu()
                    for i, p in zip(chunk, p_yes.tolist()):
                        want = prepared[i][4][slot][0].expected
                        p_expected[(i, slot)] = p if want else 1.0 - p
        judge_id = scorer_judge_id(scorer)
        rows = []
        for i, (sid, category, _, _, qs) in enumerate(prepared):
            queries = []
            for slot, (q, text) in enumerate(qs):
                p = p_expected[(i, slot)]
                ok = math.isfinite(p)
                queries.append(QueryRecord(
                    name=q.name, prompt_sha256=text_sha256(text), raw_replies=[json.dumps({"p_expected": p})],
                    parse_ok=ok, error="" if ok else "non-finite probability", scores=[10.0 * p] if ok else None,
                    extra={"question": text, "expected": q.expected, "n_images": q.n_images,
                           "unk_tokens": unk_tokens(scorer, text)}))
            sub = [q.scores[0] if q.scores else None for q in queries]
            rows.append(JudgeRow(sample_id=sid, category=category, protocol=self.name,
                                 protocol_version=self.version, template_id=self.template.template_id,
                                 judge_id=judge_id, decoding={"mode": "p_yes_softmax_yes_no"}, queries=queries,
                                 metrics=pyes_metrics(*sub), parse_ok=all(q.parse_ok for q in queries)))
        return rows


def pyes_metrics(edit, overedit, natural, artifacts) -> dict[str, float | None]:
    sc = min(edit, overedit) if edit is not None and overedit is not None else None
    pq = min(natural, artifacts) if natural is not None and artifacts is not None else None
    o = math.sqrt(sc * pq) if sc is not None and pq is not None else None
    return {"pyes_SC": sc, "pyes_PQ": pq, "pyes_O": o, "pyes_edit_success": edit, "pyes_over_editing": overedit,
            "pyes_naturalness": natural, "pyes_artifacts": artifacts}
