"""Trainer: a run killed after its checkpoint and resumed reaches the same weights."""

from dataclasses import dataclass

import pytest
import torch

from harness.checkpoint import MARKER, Checkpointer
from harness.engine import Engine, EngineConfig
from harness.method import Method
from harness.trainer import StepSampler, TrainConfig, Trainer


@dataclass
class ToyConfig(TrainConfig):
    steps: int = 6
    batch_size: int = 4
    save_every: int = 3
    log_every: int = 1


class Toy(Method):
    """Linear regression with noise from the global RNG (so RNG handling matters)."""

    trainable = True
    trained_models = ("gen",)
    Config = ToyConfig
    crash_at: int | None = None

    def setup(self, engine):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        self.engine = engine
        self.model = engine.prepare("gen", model, torch.optim.Adam(model.parameters(), lr=0.05))
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(32, 3, generator=g)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5]])
        self.sampler = StepSampler(32, self.cfg.batch_size, seed=0)

    def train_step(self, step):
        if step == self.crash_at:
            raise KeyboardInterrupt("killed")
        idx = self.sampler.indices(step)
        x = self.x[idx] + 0.01 * torch.randn(len(idx), 3)
        loss = ((self.model(x) - self.y[idx]) ** 2).mean()
        self.engine.backward("gen", loss)
        self.engine.step("gen")
        self.count("nfe", len(idx))
        return {"loss": float(loss.detach())}


def _fit(run_dir, crash_at=None, preset="single", **cfg):
    method = Toy(ToyConfig(**cfg), ctx=None)
    method.crash_at = crash_at
    engine = Engine(EngineConfig(preset=preset, micro_batch_size=4, cpu=True), trained=["gen"])
    method.setup(engine)
    Trainer(method, engine, run_dir, "toy").fit()
    return method, engine




@pytest.mark.parametrize("preset", ["single", "zero2"])
def test_resume_after_kill_matches_uninterrupted(preset, tmp_path, clean_dist_env):
    full, e1 = _fit(tmp_path / "a", preset=preset)
    final = {k: v.clone() for k, v in e1.state_dict("gen").items()}
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path / "b", crash_at=4, preset=preset)
    assert Checkpointer(tmp_path / "b" / "checkpoints" / "toy").latest()[0] == 3
    resumed, e2 = _fit(tmp_path / "b", preset=preset)
    for k, v in e2.state_dict("gen").items():
        torch.testing.assert_close(v, final[k])
    assert resumed.counters["nfe"] == full.counters["nfe"] == 6 * 4  # counters resume too


def test_half_written_checkpoint_is_ignored(tmp_path):
    _fit(tmp_path)[0]
    root = tmp_path / "checkpoints" / "toy"
    (root / "step-00000099").mkdir()  # no COMPLETE marker: a killed save
    assert Checkpointer(root).latest()[0] == 6
    assert not (root / "step-00000099" / MARKER).exists()


def test_keep_last_prunes_old_checkpoints(tmp_path):
    _fit(tmp_path, save_every=2, keep_last=2)
    steps = [s for s, _ in Checkpointer(tmp_path / "checkpoints" / "toy").complete()]
    assert steps == [4, 6]


def test_step_sampler_is_deterministic_and_sharded():
    a = StepSampler(100, 4, seed=0, rank=0, world_size=2)
    b = StepSampler(100, 4, seed=0, rank=1, world_size=2)
    assert a.indices(7) == StepSampler(100, 4, seed=0, rank=0, world_size=2).indices(7)
    assert not set(a.indices(7)) & set(b.indices(7))
