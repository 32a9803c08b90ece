"""Build the scorer a run names (registry group ``harness.scorers``)."""

from __future__ import annotations

from typing import Any

from harness import registry


def build_scorer(name: str, ctx: Any):
    """``tiny`` is the embedded judge (config ``judge.*``); ``hf`` loads ``scorer_path``; a plugin
    class may define ``from_context(ctx)``, else it is called with no arguments."""
    cls = registry.scorers.load(name)
    run = ctx.cfg.run
    device = str(ctx.device)
    if name == "tiny":
        return cls(run.judge, device=device)
    if name == "hf":
        if not run.scorer_path:
            raise ValueError("scorer 'hf' needs scorer_path=<local folder of a LLaVA or Qwen2-VL checkpoint>")
        return cls(run.scorer_path, device=device, trust_remote_code=run.trust_remote_code)
    return cls.from_context(ctx) if hasattr(cls, "from_context") else cls()
