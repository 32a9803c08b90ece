from harness.scorers.tiny_judge import JudgeConfig  # noqa: F401  (moved here after tuning)
