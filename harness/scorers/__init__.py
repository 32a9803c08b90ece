"""VLM scorers: the Scorer contract, a generic HF loader (LLaVA, Qwen2-VL) and the embedded tiny judge.

Heavy imports (transformers) happen only when a scorer is built.
"""
from .questions import Question, questions_for

__all__ = ["Question", "questions_for", "Scorer", "HFVLMScorer", "TinyJudgeScorer", "JudgeConfig"]


def __getattr__(name):
    if name in ("Scorer", "HFVLMScorer"):
        from . import scorer

        return getattr(scorer, name)
    if name in ("TinyJudgeScorer", "JudgeConfig", "load_or_train_judge", "evaluate_judge"):
        from . import tiny_judge

        return getattr(tiny_judge, name)
    raise AttributeError(name)
