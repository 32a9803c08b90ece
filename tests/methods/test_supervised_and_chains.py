"""Supervised flow matching learns from pairs; runs chain through init_from; tiny Flow-GRPO run."""

import json
from types import SimpleNamespace

import pandas as pd
import torch

from harness.cli import main
from harness.data import StepBatches
from harness.editor import trainable
from harness.models.edit_model import EditModel
from harness.models.trained import Trained
from harness.world.dataset import WorldConfig
from methods.supervised.method import Supervised, SupervisedConfig
from tests.test_prepare_models import TINY


def test_supervised_loss_decreases_on_a_fixed_batch(tiny_teacher):
    gen = trainable(EditModel.from_teacher(tiny_teacher))
    m = Supervised(SupervisedConfig(weighting_scheme="uniform"), ctx=None)
    m.gen, m.engine = Trained(gen, gen), SimpleNamespace(device=torch.device("cpu"))
    batch = StepBatches(WorldConfig(n_unpaired=4, n_paired=8, n_eval=7), batch_size=8, seed=0, paired=True)(0)
    opt = torch.optim.Adam(gen.trainable_parameters(), lr=3e-3)

    def fixed_loss():
        torch.manual_seed(0)  # same t and noise every time
        return m.loss(batch)

    before = float(fixed_loss().detach())
    for _ in range(15):
        opt.zero_grad()
        fixed_loss().backward()
        opt.step()
    assert float(fixed_loss().detach()) < 0.8 * before


def _sha(out, method):
    df = pd.read_json(out / "outputs" / "outputs.jsonl", lines=True)
    return df[df.method == method].set_index("sample_id")["sha256"]


def test_chain_starts_from_the_first_runs_weights(tmp_path):
    first, second = tmp_path / "sft", tmp_path / "rl"
    sft = ["supervised.steps=2", "supervised.batch_size=2", "supervised.inference_steps=3"]
    assert main(["run", "methods=supervised", *TINY, *sft, f"output_dir={first}"]) == 0
    assert (first / "models" / "supervised" / "edit_model.json").exists()
    chained = ["flow_grpo.steps=0", "flow_grpo.inference_steps=3", f"flow_grpo.init_from={first}:supervised"]
    assert main(["run", "methods=flow_grpo", *TINY, *chained, f"output_dir={second}"]) == 0
    a, b = _sha(first, "supervised"), _sha(second, "flow_grpo")
    assert len(a) == 7 and (a == b.loc[a.index]).all()  # identical outputs before any RL step


def test_bad_init_from_is_named(tmp_path, capsys):
    code = main(["run", "methods=flow_grpo", *TINY, f"flow_grpo.init_from={tmp_path / 'nope'}",
                 f"output_dir={tmp_path / 'o'}"])
    assert code == 2 and "init_from" in capsys.readouterr().err


def test_tiny_flow_grpo_run_logs_rewards_and_compute(tmp_path):
    out = tmp_path / "o"
    args = ["flow_grpo.steps=3", "flow_grpo.identity_warmup=1", "flow_grpo.batch_size=2", "flow_grpo.group_size=2",
            "flow_grpo.rollout_steps=2", "flow_grpo.inference_steps=2", "flow_grpo.log_every=1"]
    assert main(["run", "methods=flow_grpo", *TINY, *args, f"output_dir={out}"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r.get("event") == "train"]
    assert "loss_identity" in train[0] and "reward" not in train[0]  # the identity warm-up comes first
    assert len(train) == 3 and all(0 <= r["reward"] <= 1 and "zero_std_ratio" in r for r in train[1:])
    compute = json.loads((out / "summary.json").read_text())["flow_grpo"]["compute"]
    assert compute["nfe"] == 2 + 2 * (4 * 2 + 4 * 1) and compute["vlm_calls"] == 2 * 2 * 4


def test_one_run_chains_supervised_into_flow_grpo(tmp_path):
    out = tmp_path / "o"
    args = ["supervised.steps=1", "supervised.batch_size=2", "supervised.inference_steps=2",
            "flow_grpo.steps=0", "flow_grpo.inference_steps=2", "flow_grpo.init_from=:supervised"]
    assert main(["run", "methods=supervised,flow_grpo", *TINY, *args, f"output_dir={out}"]) == 0
    a, b = _sha(out, "supervised"), _sha(out, "flow_grpo")
    assert (a == b.loc[a.index]).all()
