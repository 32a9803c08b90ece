"""The embedded judge: a tiny LLaVA trained on exact Yes/No questions about the shapes world (config,
model, data with hard negatives, augmentation, vision pretraining, training, held-out evaluation, scorer).

Heavy imports happen on first use of a name.
"""

_NAMES = {"JudgeConfig": "config", "JUDGE_VERSION": "config", "TinyJudgeScorer": "scorer",
          "load_or_train_judge": "scorer", "train_judge": "train", "evaluate_judge": "evaluate",
          "build_model": "model", "build_processor": "model", "build_tokenizer": "model"}
__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(name)
