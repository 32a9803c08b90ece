"""Yes/No question templates, kept as data: two questions per edit sample, per edit category.

Every question is a whitespace-separated sequence of words (punctuation split off) so that the
embedded judge's word-level tokenizer covers it; `question_words()` lists them for its vocabulary.
Placeholders: {instruction} (the edit instruction), {obj} (the sample's object name).
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.world.edits import CATEGORIES

EDIT = "edit"
IDENTITY = "identity"


@dataclass(frozen=True)
class Template:
    text: str
    n_images: int  # 1: the edited image only; 2: source first, then edited
    expected: bool  # answer a perfect edit gets
    kind: str  # EDIT or IDENTITY


@dataclass(frozen=True)
class Question:
    text: str
    n_images: int
    expected: bool
    kind: str


_EDIT_TWO = Template(
    "the second image is the first one after the request : {instruction} . "
    "was the request done ? Answer Yes or No .",
    2, True, EDIT,
)
_IDENTITY_TWO = Template(
    "the second image is the first one after the request : {instruction} . "
    "apart from what the request names , is the second image the same as the first ? Answer Yes or No .",
    2, True, IDENTITY,
)
# Removal: the edit question looks at the edited image alone (is the object still there?).
_EDIT_REMOVE = Template("is there a {obj} in the image ? Answer Yes or No .", 1, False, EDIT)
_IDENTITY_REMOVE = Template(
    "apart from the {obj} , does the second image have the same background and the same objects "
    "in the same places as the first ? Answer Yes or No .",
    2, True, IDENTITY,
)
_IDENTITY_BACKGROUND = Template(
    "the second image is the first one after the request : {instruction} . "
    "apart from the background , are the objects of the second image the same as in the first ? "
    "Answer Yes or No .",
    2, True, IDENTITY,
)

# category -> (edit-verification template, identity-preservation template)
TEMPLATES: dict[str, tuple[Template, Template]] = {c: (_EDIT_TWO, _IDENTITY_TWO) for c in CATEGORIES}
TEMPLATES["subject-remove"] = (_EDIT_REMOVE, _IDENTITY_REMOVE)
TEMPLATES["background_change"] = (_EDIT_TWO, _IDENTITY_BACKGROUND)

# Single-image probes used to teach the embedded judge to look at one image at a time.
PROBES: dict[str, str] = {
    "presence": "is there a {color} {shape} in the image ? Answer Yes or No .",
    "color": "is the {shape} {color} ? Answer Yes or No .",
    "shape": "is the {color} object a {shape} ? Answer Yes or No .",
    "count": "are there exactly {count} objects ? Answer Yes or No .",
    "background": "is the background {bg} ? Answer Yes or No .",
}
COUNT_WORDS = ("zero", "one", "two", "three")

# Short-answer questions about one image (answer: one word), an auxiliary LM loss of the embedded
# judge: they give the vision tower a direct signal per attribute, which the Yes/No questions alone
# only give once the model already tells the attribute's values apart.
VQA: dict[str, str] = {
    "background": "what is the background ?",
    "color": "what color is the {shape} ?",
    "shape": "what shape is the {color} object ?",
    "count": "how many objects are there ?",
}


def _get(sample_like, key):
    return sample_like[key] if isinstance(sample_like, dict) else getattr(sample_like, key)


def questions_for(sample_like) -> list[Question]:
    """[edit-verification, identity-preservation] for an object with category/instruction/object_name."""
    cat = _get(sample_like, "category")
    if cat not in TEMPLATES:
        raise ValueError(f"no question templates for category {cat!r}; known: {sorted(TEMPLATES)}")
    fill = {"instruction": _get(sample_like, "instruction"), "obj": _get(sample_like, "object_name")}
    return [Question(t.text.format(**fill), t.n_images, t.expected, t.kind) for t in TEMPLATES[cat]]


def question_words() -> set[str]:
    """Every literal word of every template and probe (placeholders excluded)."""
    words = set(COUNT_WORDS)
    texts = [t.text for pair in TEMPLATES.values() for t in pair] + list(PROBES.values()) + list(VQA.values())
    for text in texts:
        words.update(w for w in text.split() if not w.startswith("{"))
    return words
