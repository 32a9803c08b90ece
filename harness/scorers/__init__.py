"""VLM scorers: the Scorer contract, a generic HF loader (LLaVA, Qwen2-VL) with torch preprocessing, the
questions and the reward. The embedded judge lives in ``harness.embedded.judge`` (registry name ``tiny``);
the benchmark judge protocols in ``benchmarks.judges``.

Heavy imports (transformers) happen only when a scorer is built.
"""
from .questions import Question, questions_for

__all__ = ["HFVLMScorer", "Question", "Scorer", "questions_for"]


def __getattr__(name):
    if name in ("Scorer", "HFVLMScorer"):
        from . import scorer

        return getattr(scorer, name)
    raise AttributeError(name)
