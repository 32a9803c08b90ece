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
