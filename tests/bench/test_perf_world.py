"""pytest-benchmark: throughput of the world and the oracle (run with --benchmark-enable)."""

from harness.world import oracle
from harness.world.dataset import WorldConfig, build_split


def test_build_eval_split(benchmark):
    cfg = WorldConfig(n_eval=140)
    samples = benchmark(build_split, cfg, "eval")
    assert len(samples) == 140


def test_oracle_scores_a_batch(benchmark):
    samples = build_split(WorldConfig(n_eval=64), "eval")

    def score_all():
        return [oracle.score(s, s.target) for s in samples]

    scores = benchmark(score_all)
    assert all(s["edit_success"] == 1.0 for s in scores)


def test_random_scenes(benchmark):
    import numpy as np

    from harness.world.scene import random_scene

    rng = np.random.default_rng(0)
    scenes = benchmark(lambda: [random_scene(rng) for _ in range(256)])
    assert len(scenes) == 256 and all(1 <= len(s.objects) <= 3 for s in scenes)
