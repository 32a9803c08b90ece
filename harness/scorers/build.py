"""Build the scorer a run names (registry group ``harness.scorers``)."""

from __future__ import annotations

from typing import Any

from harness import registry


def build_scorer(name: str, ctx: Any):
    """Every scorer plugin, the built-in ``tiny`` and ``hf`` included, builds itself with
    ``from_context(ctx)`` from the run context (its config, device, home)."""
    cls = registry.scorers.load(name)
    if not hasattr(cls, "from_context"):
        raise TypeError(f"scorer '{name}' ({cls!r}) has no from_context(ctx): a scorer plugin is a "
                        "harness.scorers.scorer.Scorer subclass with a classmethod from_context(ctx)")
    return cls.from_context(ctx)
