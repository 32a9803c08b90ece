"""Two real processes on gloo through torchrun: ranks agree on the reduced loss and the weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.engine import _free_port

TOY = Path(__file__).with_name("dist_toy.py")


@pytest.mark.parametrize("preset", ["ddp", "zero2"])
def test_two_ranks_agree(preset, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)  # an in-process test may have set them
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           str(TOY), preset, str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{i}.json").read_text()) for i in (0, 1))
    assert r0["world"] == r1["world"] == 2
    assert r0["losses"] == pytest.approx(r1["losses"])
    assert r0["w"] == pytest.approx(r1["w"])  # synchronised gradients keep replicas equal


def _torchrun(args, env, timeout=400):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(_free_port()), "-m", "harness", "run", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


METHOD_STEPS = ["npedit.steps=3", "npedit.identity_warmup=1", "npedit.single_step_iters=1",
                "npedit.aux_updates_per_step=1", "npedit.batch_size=2", "npedit.log_every=1",
                "flow_grpo.steps=2", "flow_grpo.batch_size=1", "flow_grpo.group_size=2", "flow_grpo.rollout_steps=2",
                "flow_grpo.log_every=1", "supervised.steps=2", "supervised.batch_size=2", "supervised.log_every=1"]


@pytest.mark.parametrize("engine, methods", [("zero2", "npedit,flow_grpo,supervised"), ("zero3", "npedit"),
                                             ("ddp", "npedit,flow_grpo")])
def test_methods_train_on_two_ranks(engine, methods, tmp_path, harness_home):
    from harness.cli import main
    from tests.test_prepare_models import TINY

    assert main(["prepare", *TINY]) == 0  # both ranks then find the models in the cache
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HARNESS_HOME": str(harness_home)}
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    out = tmp_path / "run"
    steps = [s for s in METHOD_STEPS if s.split(".")[0] in methods.split(",")]
    proc = _torchrun([f"methods={methods}", "calibration=[]", f"engine={engine}", *TINY, *steps, f"output_dir={out}"],
                     env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    n_methods = len(methods.split(","))
    assert len(scores) == 7 * n_methods  # rank 0 alone wrote: no duplicated rows
    train = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["method"] for r in train if r.get("event") == "train"} == set(methods.split(","))
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["engine"] == engine and prov["end_time"]
