"""Strict parsers for judge replies. They never guess: a reply that does not hold exactly one
unambiguous, in-range answer gives `ok=False` and no scores (never a random, 0 or midpoint score,
unlike the reference scripts, see ../shared/reference/benchmarks.md §2.3)."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

_FENCE_MARK = re.compile(r"```[A-Za-z]*")
_BARE_LIST = re.compile(r"\[([^\[\]{}]*)\]")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


@dataclass
class ParseResult:
    ok: bool
    scores: list[float] | None = None  # None unless ok
    reasoning: str | None = None
    error: str = ""
    extra: dict = field(default_factory=dict)  # e.g. named sub-scores of an ImgEdit reply


def _fail(error: str) -> ParseResult:
    return ParseResult(ok=False, error=error)


def _as_number(v) -> float | None:
    """A real, finite JSON number (bool is not a number here; numeric strings are not accepted)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _json_objects(text: str) -> list[tuple[dict, int, int]]:
    """Every top-level JSON object in `text` with its span (nested objects belong to their parent)."""
    dec = json.JSONDecoder()
    found, i = [], 0
    while True:
        i = text.find("{", i)
        if i < 0:
            return found
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            i += 1
            continue
        if isinstance(obj, dict):
            found.append((obj, i, end))
        i = end


def _numeric_lists(text: str) -> list[list[float]]:
    """Bracketed lists made only of numbers, e.g. "[8, 9]"; "[first, second]" is prose, not a list."""
    out = []
    for m in _BARE_LIST.finditer(text):
        parts = [p.strip() for p in m.group(1).split(",")]
        if parts and all(_NUMBER.match(p) for p in parts):
            out.append([float(p) for p in parts])
    return out


def _candidate_key(c) -> str:
    """Compare candidates by value: [8, 9] in JSON and "[8.0, 9]" in prose are the same answer."""
    if isinstance(c, list) and all(_as_number(v) is not None for v in c):
        return json.dumps([float(v) for v in c])
    return json.dumps(c, sort_keys=True)


def _check_scores(values: list, n_scores: int, lo: float, hi: float) -> tuple[list[float] | None, str]:
    nums = [_as_number(v) for v in values]
    if any(x is None for x in nums):
        return None, f"score list {values!r} holds a non-number"
    if len(nums) != n_scores:
        return None, f"expected {n_scores} scores, got {len(nums)}: {values!r}"
    out = [x for x in nums if not (lo <= x <= hi)]
    if out:
        return None, f"score(s) {out} outside [{lo:g}, {hi:g}]"
    return nums, ""


def parse_score_list(reply: str | None, n_scores: int = 2, lo: float = 0.0, hi: float = 10.0) -> ParseResult:
    """Parse a VIEScore-style reply `{"score": [a, b], "reasoning": "..."}`.

    Candidates are JSON objects with a "score" key anywhere in the reply (code fences and prose
    around them are fine) and, outside those objects, bracketed lists of numbers. Accepted only when
    every candidate agrees. Rejected: no candidate, candidates that disagree (e.g. an injected second
    answer), a wrong number of scores, non-numbers, numbers outside [lo, hi], a scalar score.
    """
    if reply is None or not reply.strip():
        return _fail("empty reply")
    text = _FENCE_MARK.sub(" ", reply)
    objects = _json_objects(text)
    scored = [(o, a, b) for o, a, b in objects if "score" in o]
    outside = text
    for _, a, b in sorted(objects, key=lambda t: -t[1]):  # blank out every JSON object, keep the prose
        outside = outside[:a] + " " * (b - a) + outside[b:]
    candidates = [o["score"] for o, _, _ in scored] + _numeric_lists(outside)
    if not candidates:
        if objects:
            return _fail("JSON object(s) without a 'score' key")
        return _fail("no JSON object with 'score' and no bracketed score list")
    distinct = {_candidate_key(c) for c in candidates}
    if len(distinct) > 1:
        return _fail(f"{len(candidates)} score candidates that disagree ({', '.join(sorted(distinct))}): ambiguous")
    score = candidates[0]
    if not isinstance(score, list):
        return _fail(f"'score' is {type(score).__name__} {score!r}, expected a list of {n_scores} numbers")
    nums, err = _check_scores(score, n_scores, lo, hi)
    if nums is None:
        return _fail(err)
    reasoning = scored[0][0].get("reasoning") if scored else None
    return ParseResult(ok=True, scores=nums, reasoning=reasoning if isinstance(reasoning, str) else None)


_KEY_VALUE = re.compile(r"^\s*[*_#>\-\s]*([A-Za-z][A-Za-z0-9 &/()'_\-]*?)[*_\s]*:\s*[*_]*\s*([+-]?\d+(?:\.\d+)?)\s*[*_]*\s*(?:/\s*5)?\s*\.?\s*$")


def _mentions(reply: str, name: str) -> list[float]:
    """Every `name: N` anywhere in the reply (also mid-line, e.g. an injected "... Score: 5")."""
    pat = re.compile(r"(?<![A-Za-z])" + re.escape(name) + r"[*_\s]*:[*_\s]*([+-]?\d+(?:\.\d+)?)", re.IGNORECASE)
    return [float(m.group(1)) for m in pat.finditer(reply)]


def parse_named_scores(reply: str | None, lo: float = 1.0, hi: float = 5.0, keys: tuple[str, ...] | None = None,
                       integer: bool = True) -> ParseResult:
    """Parse an ImgEdit-style reply: `Name: N` lines; the sample's score is the mean of the named
    scores (the official per-sample rule). With `keys`, exactly those names count (case-insensitive)
    and each must appear. Rejected: a name given again with another value anywhere in the reply, a
    number outside [lo, hi] or a fraction when `integer`, no score at all.
    """
    if reply is None or not reply.strip():
        return _fail("empty reply")
    if keys is not None:
        names = list(keys)
    else:  # official mode: the names are whatever `Name: N` lines the reply holds
        names = []
        for line in reply.splitlines():
            m = _KEY_VALUE.match(line)
            if m and m.group(1).strip().lower() not in {n.lower() for n in names}:
                names.append(m.group(1).strip())
        if not names:
            return _fail("no 'Name: N' score line")
    named: dict[str, float] = {}
    for name in names:
        values = _mentions(reply, name)
        if not values:
            return _fail(f"no score line for {name!r}")
        if len(set(values)) > 1:
            return _fail(f"score {name!r} given several values {values}: ambiguous")
        value = values[0]
        if integer and not value.is_integer():
            return _fail(f"score {name!r} = {value:g} is not a whole number")
        if not lo <= value <= hi:
            return _fail(f"score {name!r} = {value:g} outside [{lo:g}, {hi:g}]")
        named[name] = value
    return ParseResult(ok=True, scores=[sum(named.values()) / len(named)], extra={"named": named})
