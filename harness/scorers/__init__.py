"""VLM scorers: the Scorer contract, a generic HF loader (LLaVA, Qwen2-VL) and the embedded tiny judge.

Heavy imports (transformers) happen only when a scorer is built.
"""
from .questions import Question, questions_for

__all__ = [
    "Decoding",
    "HFTextJudge",
    "HFVLMScorer",
    "ImgEditProtocol",
    "JudgeCache",
    "JudgeConfig",
    "PyesProtocol",
    "Question",
    "Scorer",
    "TextJudge",
    "TinyJudgeScorer",
    "VIEScoreProtocol",
    "aggregate_judgements",
    "questions_for",
]
_PROTOCOL_NAMES = ("VIEScoreProtocol", "ImgEditProtocol", "PyesProtocol", "PyesQuestion", "JudgeRow", "JudgeCache",
                   "TextJudge", "Decoding", "aggregate_judgements", "micro_macro", "load_template")


def __getattr__(name):
    if name in ("Scorer", "HFVLMScorer"):
        from . import scorer

        return getattr(scorer, name)
    if name in ("TinyJudgeScorer", "JudgeConfig", "load_or_train_judge", "evaluate_judge"):
        from . import tiny_judge

        return getattr(tiny_judge, name)
    if name in _PROTOCOL_NAMES:  # judge protocols (text and P(Yes)) and the judge cache
        from . import protocols

        return getattr(protocols, name)
    if name == "HFTextJudge":
        from . import hf_text_judge

        return hf_text_judge.HFTextJudge
    raise AttributeError(name)
