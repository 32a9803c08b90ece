from tests.judge_fixtures import images, tiny_cfg, tiny_saved, tiny_scorer  # noqa: F401 (fixtures)
