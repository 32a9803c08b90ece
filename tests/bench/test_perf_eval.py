"""pytest-benchmark: evaluation throughput (samples edited, saved and scored per second) and the time to
build a run's report from its files. Run with --benchmark-enable; in CI each runs once as a plain test."""

from __future__ import annotations

import itertools

import pytest
import torch

from harness import registry
from harness.cli import main
from harness.config import load_config
from harness.method import RunContext
from harness.rundir import RunDir
from harness.runner import evaluate

N_EVAL = 64


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    assert main(["run", "-q", "methods=copy,target", f"world.n_eval={N_EVAL}", f"output_dir={out}"]) == 0
    return out


def test_eval_throughput(benchmark, tmp_path):
    cfg = load_config("default", ["methods=copy", f"world.n_eval={N_EVAL}"])
    ctx = RunContext(cfg=cfg, run_dir=tmp_path, home=tmp_path / "home", device=torch.device("cpu"))
    suite = registry.suites.load("shapes")(ctx)
    method = registry.methods.load("copy")(None, ctx, name="copy")
    suite.samples()  # the eval split is built once, outside the timing
    fresh = (RunDir(tmp_path / f"r{i}") for i in itertools.count())

    scored = benchmark.pedantic(lambda rd: evaluate("copy", method, suite, rd, 64, True, progress=False),
                                setup=lambda: ((next(fresh),), {}), rounds=3, iterations=1)
    assert scored == N_EVAL
    benchmark.extra_info["samples"] = N_EVAL


def test_report_build(benchmark, finished_run):
    from reports.markdown import write_report

    path = benchmark.pedantic(write_report, args=(finished_run,), rounds=2, iterations=1)
    assert "copy (lower bound)" in path.read_text()
