"""The run's generator family, built by the registry group ``generators`` (``generator=NAME``).

A generator plugin is a class with ``from_context(ctx)``; the object it returns gives the frozen
text-to-image base every method of the run shares (``teacher()``: NP-Edit's DMD teacher, Flow-GRPO's
reference before training) and the editor each generator method starts from (``initial_editor()``).
The embedded world's family is one such plugin (``embedded``, harness/embedded/generator.py); a real
checkpoint family registers the same way, so no method imports a family's loading or training code.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from harness import registry
from harness.models.edit_model import EditModel


class GeneratorFamily(Protocol):
    def teacher(self) -> EditModel:
        """The frozen text-to-image base (loaded once per family object)."""

    def initial_editor(self) -> EditModel:
        """A fresh trainable editor: the starting point of every generator method without ``init_from``."""


def build_generator(ctx: Any) -> GeneratorFamily:
    """The family the run names (``generator``), built from the run context; cached on the context so the
    methods of one run share one teacher."""
    name = getattr(ctx.cfg.run.generator, "name", ctx.cfg.run.generator)  # a GeneratorConfig (or a bare name)
    cache = ctx.extras.setdefault("generators", {})
    if name not in cache:
        cls = registry.generators.load(name)
        if not hasattr(cls, "from_context"):
            raise TypeError(f"generator '{name}' ({cls!r}) has no from_context(ctx): a generator plugin is a class "
                            "whose from_context(ctx) returns an object with teacher() and initial_editor()")
        cache[name] = cls.from_context(ctx)
    return cache[name]


def auxiliary_model(family: Any, teacher: EditModel) -> Any:
    """NP-Edit's auxiliary (fake-score) model, equal to the teacher at step 0: the family's own (a second
    adapter on the shared base of a real checkpoint), else a trainable copy of the teacher."""
    if hasattr(family, "auxiliary"):
        return family.auxiliary()
    aux = copy.deepcopy(teacher)
    aux.train_text_encoder = False
    return aux


def reference_model(family: Any, generator: Any) -> Any:
    """Flow-GRPO's frozen KL reference: the family's own (the base with adapters disabled), else a copy of
    the initial generator."""
    return family.reference(generator) if hasattr(family, "reference") else copy.deepcopy(generator)
