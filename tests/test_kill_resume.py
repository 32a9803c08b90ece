"""Kill and resume: a run SIGKILLed at any moment (mid-training, between methods, before and during
scoring, during the report), then the same command again, ends with the summary.json, exported weights,
scores.jsonl and outputs.jsonl of an uninterrupted run: no duplicated, missing or changed rows.
Once with two real ``torchrun -m harness run`` processes under engine=zero2, killed from outside."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests import kill_points
from tests.test_prepare_models import TINY

pytestmark = pytest.mark.slow

SUPERVISED = ["supervised.steps=6", "supervised.save_every=2", "supervised.batch_size=2",
              "supervised.inference_steps=2", "supervised.log_every=1"]
RUN = ["run", "-q", "methods=supervised", *TINY, *SUPERVISED, "eval_batch_size=2", "save_images=true"]
DIST_KEYS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One prepared $HARNESS_HOME for the module (the tiny teacher, judge and editor init)."""
    path = tmp_path_factory.mktemp("home")
    child(["prepare", *TINY], path)
    return path


_CTX = None


def _ctx():
    global _CTX
    if _CTX is None:
        _CTX = multiprocessing.get_context("forkserver")
        _CTX.set_forkserver_preload(["tests.kill_points", "harness.cli", "harness.runner", "harness.trainer",
                                     "methods.supervised.method", "reports.markdown"])
    return _CTX


def child(argv, home, point=None, method="supervised"):
    """Run the CLI in a fresh process (SIGKILLed at ``point`` if given); returns its exit status or -signal."""
    env = {"HARNESS_HOME": str(home), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    p = _ctx().Process(target=kill_points.child, args=(argv, env, torch.get_num_threads(), point, method))
    p.start()
    p.join(300)
    return p.exitcode


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _summary(out: Path) -> dict:
    """summary.json without its clock readings (training seconds differ between any two runs)."""
    summary = json.loads((out / "summary.json").read_text())
    for entry in summary.values():
        if isinstance(entry, dict):
            entry.get("compute", {}).pop("wall_seconds", None)
    return summary


def _weights(out: Path) -> dict[str, bytes]:
    root = out / "models"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.safetensors"))}


def _state(out: Path) -> dict:
    outputs = _rows(out / "outputs" / "outputs.jsonl")
    return {"summary": _summary(out), "scores": _rows(out / "scores.jsonl"), "outputs": outputs,
            "weights": _weights(out), "report": (out / "report.md").read_text().splitlines()[0]}


@pytest.fixture(scope="module")
def uninterrupted(home, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    assert child([*RUN, f"output_dir={out}"], home) == 0
    state = _state(out)
    assert len(state["scores"]) == 3 * 7 and len(state["weights"]) >= 1
    return state


@pytest.mark.parametrize("point", kill_points.POINTS)
def test_killed_run_resumes_to_the_uninterrupted_result(point, home, uninterrupted, tmp_path):
    out = tmp_path / "run"
    argv = [*RUN, f"output_dir={out}"]
    assert child(argv, home, point=point) == -signal.SIGKILL
    assert not (out / "provenance.json").exists() or not json.loads((out / "provenance.json").read_text())["end_time"]
    assert child(argv, home) == 0  # the same command again
    state = _state(out)
    keys = [(r["method"], r["suite"], r["sample_id"]) for r in state["scores"]]
    assert len(keys) == len(set(keys)) == 3 * 7  # nothing scored twice, nothing missing
    for part in ("scores", "outputs", "summary", "weights", "report"):
        assert state[part] == uninterrupted[part], part
    assert not list(out.rglob("*.tmp"))  # no temp file of a killed write left behind


# --------------------------------------------------------------------------- two ranks, ZeRO-2


def _torchrun(argv, home, kill_when=None, timeout=400):
    from harness.engine import _free_port

    env = {**os.environ, "OMP_NUM_THREADS": "1", "HARNESS_HOME": str(home)}
    for key in DIST_KEYS:
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(_free_port()), "-m", "harness", *argv]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    if kill_when is None:
        _, err = proc.communicate(timeout=timeout)
        return proc.returncode, err
    deadline = time.monotonic() + timeout
    while not kill_when() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    import psutil  # (an accelerate dependency)

    # the whole job, launcher and both ranks (torchrun starts them in sessions of their own), as a preemption does
    for p in [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]:
        p.send_signal(signal.SIGKILL)
    proc.communicate()
    return proc.returncode, ""


def test_zero2_two_ranks_killed_from_outside_resume_to_the_same_result(home, tmp_path):
    argv = [*RUN, "engine=zero2", "calibration=[]", "supervised.steps=30", "supervised.log_every=10"]
    full = tmp_path / "full"
    code, err = _torchrun([*argv, f"output_dir={full}"], home)
    assert code == 0, err[-3000:]
    out = tmp_path / "run"
    ckpt = out / "checkpoints" / "supervised" / "step-00000002" / "COMPLETE"
    code, _ = _torchrun([*argv, f"output_dir={out}"], home, kill_when=ckpt.exists)
    assert code != 0 and not (out / "scores.jsonl").exists()  # killed mid-training, after its first checkpoint
    code, err = _torchrun([*argv, f"output_dir={out}"], home)
    assert code == 0, err[-3000:]
    a, b = _state(full), _state(out)
    assert len(b["scores"]) == 7 and len({r["sample_id"] for r in b["scores"]}) == 7
    for part in ("scores", "outputs", "summary", "weights"):
        assert a[part] == b[part], part
    resumed = [r for r in _rows(out / "metrics.jsonl") if r.get("event") == "resume"]
    assert resumed and resumed[0]["step"] >= 2
