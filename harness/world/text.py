"""Captions, instruction templates and the world vocabulary."""
from __future__ import annotations

from .palette import BACKGROUNDS, COLORS, SHAPES, SIZES
from .scene import Scene, name

# Placeholders: {obj} object name, {color} colour, {shape} shape, {a_new} "a/an colour shape",
# {bg} background colour, {dir} direction phrase.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "color_alter": (
        "make the {obj} {color}",
        "change the color of the {obj} to {color}",
        "turn the {obj} {color}",
        "paint the {obj} {color}",
    ),
    "subject-remove": (
        "remove the {obj}",
        "delete the {obj}",
        "take away the {obj}",
        "erase the {obj}",
    ),
    "subject-add": (
        "add {a_new}",
        "put {a_new} in the picture",
        "draw {a_new}",
        "insert {a_new}",
    ),
    "subject-replace": (
        "replace the {obj} with {a_new}",
        "turn the {obj} into a {shape}",
        "change the {obj} into a {shape}",
        "swap the {obj} for {a_new}",
    ),
    "background_change": (
        "change the background to {bg}",
        "make the background {bg}",
        "set the background color to {bg}",
        "turn the background {bg}",
    ),
    "subject-move": (
        "move the {obj} {dir}",
        "shift the {obj} {dir}",
        "slide the {obj} {dir}",
    ),
    "resize-bigger": (
        "make the {obj} bigger",
        "enlarge the {obj}",
        "increase the size of the {obj}",
    ),
    "resize-smaller": (
        "make the {obj} smaller",
        "shrink the {obj}",
        "reduce the size of the {obj}",
    ),
}

DIRECTION_PHRASES = {"left": "to the left", "right": "to the right", "up": "up", "down": "down"}


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def with_article(obj_name: str) -> str:
    return f"{article(obj_name)} {obj_name}"


def caption(scene: Scene) -> str:
    """Coarse caption: object colours/shapes and background, no positions or sizes."""
    objs = sorted(scene.objects, key=lambda o: (o.shape, o.color))
    if not objs:
        return f"a plain {scene.background} background"
    parts = " and ".join(with_article(name(o)) for o in objs)
    return f"{parts} on {article(scene.background)} {scene.background} background"


def vocabulary() -> list[str]:
    words = {"a", "an", "and", "on", "plain", "background"}
    words.update(COLORS, BACKGROUNDS, SHAPES, SIZES)
    for phrase in DIRECTION_PHRASES.values():
        words.update(phrase.split())
    for templates in TEMPLATES.values():
        for t in templates:
            for w in t.split():
                if not w.startswith("{"):
                    words.add(w)
    return sorted(words)
