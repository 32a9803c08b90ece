"""pytest-benchmark: one training step of each method through the Trainer and the Engine, and the same
method's maths on the same models through a bare PyTorch loop (benchmarks/perf/bare_engine.py).
BENCHMARKS.md reports harness / bare per method (target <= 1.05). Run with --benchmark-enable
(``python -m benchmarks.perf.write_benchmarks``); in CI each runs once as a plain test."""

from __future__ import annotations

import resource

import pytest
import torch

from benchmarks.perf.bare_engine import BareEngine
from harness import registry
from harness.config import load_config
from harness.method import RunContext
from tests.test_prepare_models import TINY

STEPS = {"supervised": ["supervised.batch_size=8"],
         "npedit": ["npedit.batch_size=4", "npedit.identity_warmup=0", "npedit.single_step_iters=0"],
         "flow_grpo": ["flow_grpo.batch_size=2", "flow_grpo.group_size=4", "flow_grpo.rollout_steps=4",
                       "flow_grpo.identity_warmup=0"]}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    import os

    from harness.cli import main

    path = tmp_path_factory.mktemp("home")
    old = os.environ.get("HARNESS_HOME")
    os.environ["HARNESS_HOME"] = str(path)
    try:
        assert main(["prepare", *TINY]) == 0
    finally:
        os.environ["HARNESS_HOME"] = old or ""
    return path


def _method(name, home, tmp_path, monkeypatch, engine):
    monkeypatch.setenv("HARNESS_HOME", str(home))
    cfg = load_config("default", [f"methods={name}", "calibration=[]", *TINY, *STEPS[name], f"{name}.steps=100000"])
    ctx = RunContext(cfg=cfg, run_dir=tmp_path, home=home, device=torch.device("cpu"))
    method = registry.methods.load(name)(cfg.methods[name], ctx, name=name)
    method.setup(engine)
    return method


def _harness_engine(method_cfg_like):
    from harness.engine import Engine, EngineConfig

    return Engine(EngineConfig(preset="single", cpu=True), trained=list(method_cfg_like.trained_models))


@pytest.mark.parametrize("name", list(STEPS))
def test_train_step_harness_vs_bare(benchmark, name, home, tmp_path, monkeypatch):
    """Harness and bare steps interleaved (one of each per round), so machine drift hits both alike; the
    benchmark's figure is the pair, extra_info holds each one's median and their ratio."""
    import statistics
    import time

    from harness.trainer import Trainer, _rng_for

    cls = registry.methods.load(name)
    harness_method = _method(name, home, tmp_path / "h", monkeypatch, _harness_engine(cls))
    bare_method = _method(name, home, tmp_path / "b", monkeypatch, BareEngine())
    trainer = Trainer(harness_method, harness_method.engine, tmp_path / "h", name, progress=False)
    bar = trainer._bar(0)
    times = {"harness": [], "bare": []}
    counter = iter(range(10**9))

    def pair():
        s = next(counter)
        t0 = time.perf_counter()
        trainer._step(s, 0.0, bar)  # the Trainer's whole step: seeding, guard, bar, logging every log_every
        t1 = time.perf_counter()
        _rng_for(0, s, 0)
        bare_method.train_step(s)
        times["harness"].append(t1 - t0)
        times["bare"].append(time.perf_counter() - t1)

    benchmark.pedantic(pair, rounds=20, warmup_rounds=2, iterations=1)
    # the first two pairs are warm-up rounds; with --benchmark-disable (CI) pedantic calls pair() once
    h, b = (statistics.median(times[k][2:] or times[k]) for k in ("harness", "bare"))
    benchmark.extra_info.update({"harness_median_s": h, "bare_median_s": b, "ratio": h / b,
                                 "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    for m in (harness_method, bare_method):
        params = list(m.gen.bare.trainable_parameters())
        assert params and all(torch.isfinite(p).all() for p in params)  # the steps trained, finitely
