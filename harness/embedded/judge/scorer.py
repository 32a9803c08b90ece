"""The embedded judge as a scorer (registry name ``tiny``): trained once, cached under $HARNESS_HOME/judge,
or installed from the shipped copy of the default config."""
from __future__ import annotations

from pathlib import Path

from harness.cache import cached_build
from harness.scorers.scorer import HFVLMScorer

from .config import JudgeConfig


def load_or_train_judge(cfg: JudgeConfig | None = None, force: bool = False, log=print) -> Path:
    """The cache folder of the judge ``cfg`` describes, trained (``train.train_judge``) only if neither the
    cache nor the shipped copies hold it."""
    cfg = cfg or JudgeConfig()

    def build(tmp):
        from .train import train_judge  # the training code loads only when a judge is trained

        train_judge(cfg, tmp, log=log)

    return cached_build("judge", cfg.cache_key(), build, force=force, log=log)


class TinyJudgeScorer(HFVLMScorer):
    """The embedded judge, trained (once, cached under $HARNESS_HOME/judge) on first use."""

    @classmethod
    def from_context(cls, ctx) -> "TinyJudgeScorer":
        """Scorer ``tiny``: the judge the run's ``judge.*`` config describes."""
        return cls(ctx.cfg.run.judge, device=str(ctx.device))

    def __init__(self, cfg: JudgeConfig | dict | None = None, device: str = "cpu", force: bool = False):
        if isinstance(cfg, dict):
            cfg = JudgeConfig(**cfg)
        self.cfg = cfg or JudgeConfig()
        super().__init__(str(load_or_train_judge(self.cfg, force=force)), device=device)
