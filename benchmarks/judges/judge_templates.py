"""Prompt templates of the judge protocols: the project's own text, or a file the user points at.

Every judgement records `template_id` = "<name>@sha256:<first 16 hex of the text>", so a report can
say which prompt text produced its numbers (e.g. the official VIEScore prompts vs ours).

Template files (`template_path`):
- `.json`: an object of named prompts. VIEScore needs keys "sc" and "pq"; ImgEdit needs either
  "prompt" or one prompt per edit category (the official `prompts.json` layout, keyed by edit type).
  An optional "name" names the template.
- any other suffix: the whole file is one prompt (ImgEdit only).
Placeholders: `<instruction>` (the official VIEScore spelling), `<edit_prompt>` (ImgEdit's) and
`{instruction}` are all replaced by the edit instruction.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

PLACEHOLDERS = ("<instruction>", "<edit_prompt>", "{instruction}")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PromptTemplate:
    """Named prompt texts (e.g. {"sc": ..., "pq": ...}) and where they came from."""

    name: str
    prompts: dict[str, str]
    source: str = "builtin"  # "builtin" or the file path
    sha256: str = field(init=False)

    def __post_init__(self):
        blob = json.dumps(self.prompts, sort_keys=True, ensure_ascii=False)
        object.__setattr__(self, "sha256", text_sha256(blob))

    @property
    def template_id(self) -> str:
        return f"{self.name}@sha256:{self.sha256[:16]}"

    def render(self, key: str, instruction: str = "") -> str:
        if key not in self.prompts:
            raise KeyError(f"template {self.template_id} ({self.source}) has no prompt {key!r}; "
                           f"it has {sorted(self.prompts)}")
        text = self.prompts[key]
        for ph in PLACEHOLDERS:
            text = text.replace(ph, instruction)
        return text


def load_template(path: str | Path, required: tuple[str, ...] = (), name: str | None = None,
                  allow_plain_text: bool = False) -> PromptTemplate:
    """Read a template file; raise naming the file and the missing key when it does not fit."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"judge template file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"judge template {path}: not valid JSON ({e.msg}, line {e.lineno})") from None
        if not isinstance(data, dict):
            raise ValueError(f"judge template {path}: expected a JSON object of named prompts, got {type(data).__name__}")
        name = name or str(data.pop("name", path.stem))
        bad = [k for k, v in data.items() if not isinstance(v, str)]
        if bad:
            raise ValueError(f"judge template {path}: prompt(s) {bad} are not strings")
        prompts = dict(data)
    elif allow_plain_text:
        prompts = {"prompt": text}
        name = name or path.stem
    else:
        raise ValueError(f"judge template {path}: expected a .json file with keys {list(required)}")
    missing = [k for k in required if k not in prompts]
    if missing:
        raise ValueError(f"judge template {path}: missing prompt key(s) {missing}; it has {sorted(prompts)}")
    empty = [k for k, v in prompts.items() if not v.strip()]
    if empty:
        raise ValueError(f"judge template {path}: prompt(s) {empty} are empty")
    return PromptTemplate(name=name, prompts=prompts, source=str(path))


# ---------------------------------------------------------------- the project's own prompt text
# Written for this project (not the official VIEScore/ImgEdit wording). Numbers produced with these
# are NOT comparable with published GEdit/ImgEdit tables; load the official file for that.

_ANSWER_FORMAT = (
    "Reply with one JSON object and nothing else, in this exact form: "
    '{"score": [first, second], "reasoning": "one short sentence"}, where first and second are whole '
    "numbers from 0 to 10."
)

OWN_VIESCORE = PromptTemplate(
    name="harness-viescore-v1",
    prompts={
        "sc": (
            "You are checking an image edit. The first picture is the original, the second is the result "
            "of applying this edit request to it: <instruction>\n"
            "Give two numbers. First: how completely and correctly the request was carried out "
            "(0 = not at all, 10 = exactly as asked). If the two pictures look the same, the edit most "
            "likely failed. Second: how well everything the request did not mention was left alone "
            "(0 = the picture was changed far beyond the request, 10 = only the requested change was "
            "made).\n" + _ANSWER_FORMAT
        ),
        "pq": (
            "You are checking the visual quality of one picture produced by an image editor.\n"
            "Give two numbers. First: how natural and physically plausible the picture looks, with "
            "consistent lighting, shadows and perspective (0 = not at all, 10 = fully natural). Second: "
            "how free it is of artifacts such as blur, noise, distortions, seams or broken shapes "
            "(0 = severe artifacts, 10 = none).\n" + _ANSWER_FORMAT
        ),
    },
)

OWN_IMGEDIT = PromptTemplate(
    name="harness-imgedit-v1",
    prompts={
        "prompt": (
            "You are grading an image edit. The first picture is the original, the second is the edited "
            "result for this request: <edit_prompt>\n"
            "Consider whether the request was followed, whether the result looks clean and natural, and "
            "whether parts the request did not mention stayed the same. Give one overall grade from 1 "
            "(failed) to 5 (excellent). End your reply with a line of the form\nScore: N\nwhere N is a "
            "whole number from 1 to 5."
        ),
    },
)
