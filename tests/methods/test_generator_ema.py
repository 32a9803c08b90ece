"""What GeneratorMethod shares. The EMA: editing sees the averaged weights, training the live ones; the average
survives a kill and resume; the export keeps it. The identity warm-up, skipped for chained generators."""

from dataclasses import dataclass

import pytest
import torch

from harness.config import ConfigError, load_config
from harness.editor import EditorConfig, GeneratorEMA, GeneratorMethod
from harness.engine import Engine, EngineConfig
from harness.models.edit_model import EditModel
from harness.trainer import Trainer

PROMPT = ["make the red circle blue"]


@dataclass
class ToyEditorConfig(EditorConfig):
    steps: int = 6
    save_every: int = 3
    log_every: int = 1
    lr: float = 1e-2
    ema_decay: float = 0.8


class ToyEditor(GeneratorMethod):
    """Pulls the generator's velocity toward a fixed target; enough to move every weight."""

    trainable = True
    trained_models = ("generator",)
    crash_at: int | None = None

    def __init__(self, cfg, teacher):
        super().__init__(cfg, ctx=None)
        self.teacher = teacher

    def setup(self, engine):
        self.engine = engine
        self.gen = self.prepare_generator(engine, EditModel.from_teacher(self.teacher), self.cfg.lr)

    def train_step(self, step):
        if step == self.crash_at:
            raise KeyboardInterrupt("killed")
        g = torch.Generator().manual_seed(step)
        x, ref = torch.randn(2, 3, 32, 32, generator=g), torch.randn(2, 3, 32, 32, generator=g)
        loss = ((self.gen.velocity(x, 0.5, PROMPT * 2, ref=ref) - ref) ** 2).mean()
        self.engine.backward("generator", loss)
        self.step_generator()
        return {"loss": float(loss.detach())}


def _fit(run_dir, teacher, crash_at=None):
    method = ToyEditor(ToyEditorConfig(), teacher)
    method.crash_at = crash_at
    engine = Engine(EngineConfig(preset="single", micro_batch_size=2, cpu=True), trained=["generator"])
    method.setup(engine)
    Trainer(method, engine, run_dir, "toy").fit()
    return method


def _params(method):
    return [p.detach().clone() for p in method.gen.bare.trainable_parameters()]


def test_editing_uses_the_average_and_training_the_live_weights(tmp_path, tiny_teacher):
    m = _fit(tmp_path, tiny_teacher)
    live, shadow = _params(m), [s.clone() for s in m.ema.ema.shadow_params]
    assert any(not torch.equal(a, b) for a, b in zip(live, shadow))  # the average lags the live weights
    with m.editing_weights():
        assert all(torch.equal(a, b) for a, b in zip(_params(m), shadow))
    assert all(torch.equal(a, b) for a, b in zip(_params(m), live))  # swapped back for training
    m.ema.finalize()  # what finish() does before the export
    assert all(torch.equal(a, b) for a, b in zip(_params(m), shadow))
    with m.editing_weights():  # idempotent once final
        assert all(torch.equal(a, b) for a, b in zip(_params(m), shadow))


def test_ema_resumes_after_a_kill_exactly(tmp_path, tiny_teacher):
    full = _fit(tmp_path / "a", tiny_teacher)
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path / "b", tiny_teacher, crash_at=4)
    assert (tmp_path / "b" / "checkpoints" / "toy" / "step-00000003" / "method_state.safetensors").exists()
    resumed = _fit(tmp_path / "b", tiny_teacher)
    assert resumed.ema.ema.optimization_step == full.ema.ema.optimization_step == 6
    for a, b in zip(resumed.ema.ema.shadow_params, full.ema.ema.shadow_params):
        torch.testing.assert_close(a, b)


def test_ema_state_of_another_model_is_refused(tiny_teacher):
    gen = EditModel.from_teacher(tiny_teacher)
    ema = GeneratorEMA(engine=None, model=gen, decay=0.9)
    state = ema.state_dict()
    state[f"{GeneratorEMA.PREFIX}0"] = torch.zeros(3)
    with pytest.raises(ValueError, match="does not match"):
        ema.load_state_dict(state)


def test_ema_is_refused_under_zero3_and_out_of_range():
    class Zero3:
        deepspeed = True
        cfg = EngineConfig(preset="zero3")

    with pytest.raises(ValueError, match="ZeRO-3"):
        GeneratorEMA(Zero3(), model=None, decay=0.9)
    with pytest.raises(ConfigError, match="supervised.ema_decay=1.0 is out of range"):
        load_config("default", ["methods=supervised", "supervised.ema_decay=1.0"])


def test_identity_warmup_is_skipped_for_a_chained_generator():
    from methods.flow_grpo.config import FlowGRPOConfig
    from methods.npedit.config import NPEditConfig

    for cfg_cls in (FlowGRPOConfig, NPEditConfig):
        assert GeneratorMethod(cfg_cls(identity_warmup=7), ctx=None).warmup_steps() == 7
        chained = cfg_cls(identity_warmup=7, init_from=":supervised")
        assert GeneratorMethod(chained, ctx=None).warmup_steps() == 0


@dataclass
class ToyWarmConfig(ToyEditorConfig):
    ema_decay: float = 0.0
    identity_warmup: int = 2
    identity_warmup_lr: float = 5e-2


class ToyWarmEditor(ToyEditor):
    """Warm-up steps first (the shared identity step), then the toy objective; records the rate used."""

    lrs: list

    def train_step(self, step):
        if step < self.warmup_steps():
            out = self.identity_step(torch.rand(2, 3, 32, 32), PROMPT * 2)
        else:
            out = super().train_step(step)
        self.lrs.append(self.engine.optimizers["generator"].param_groups[0]["lr"])
        return out


def test_identity_warmup_runs_at_its_own_rate_then_the_methods(tmp_path, tiny_teacher):
    method = ToyWarmEditor(ToyWarmConfig(steps=5, save_every=0), tiny_teacher)
    method.lrs = []
    engine = Engine(EngineConfig(preset="single", micro_batch_size=2, cpu=True), trained=["generator"])
    method.setup(engine)
    Trainer(method, engine, tmp_path / "run", "toy").fit()
    assert method.lrs == [5e-2, 5e-2, 1e-2, 1e-2, 1e-2]
