"""NP-Edit's two DeepSpeed engines: a generator step moves only the generator, an aux step only aux."""


import pytest
import torch

from harness.config import load_config
from harness.engine import Engine, EngineConfig
from harness.method import RunContext
from methods.npedit.method import NPEdit
from tests.test_prepare_models import TINY




def _flat(engine, name):
    return torch.cat([v.detach().float().flatten() for v in engine.state_dict(name).values()])


@pytest.mark.parametrize("preset", ["zero2", "zero3"])
def test_each_engine_steps_only_its_model(preset, tmp_path, clean_dist_env):
    cfg = load_config("default", ["methods=npedit", *TINY, "npedit.identity_warmup=0", "npedit.single_step_iters=0",
                                  "npedit.batch_size=2", "npedit.aux_updates_per_step=2", "npedit.do_nothing_prob=0"])
    ctx = RunContext(cfg=cfg, run_dir=tmp_path, home=tmp_path, device=torch.device("cpu"))
    method = NPEdit(cfg.methods["npedit"], ctx, name="npedit")
    engine = Engine(EngineConfig(preset=preset, micro_batch_size=2, max_grad_norm=2.0, cpu=True),
                    trained=["generator", "aux"])
    method.setup(engine)
    changes = []
    real_step = engine.step

    def recording_step(name):
        before = {n: _flat(engine, n) for n in ("generator", "aux")}
        real_step(name)
        after = {n: _flat(engine, n) for n in ("generator", "aux")}
        changes.append((name, {n: not torch.equal(before[n], after[n]) for n in before}))

    engine.step = recording_step
    torch.manual_seed(0)
    method.train_step(0)
    assert [name for name, _ in changes] == ["generator", "aux", "aux"]
    for name, moved in changes:
        other = "aux" if name == "generator" else "generator"
        assert moved[name] and not moved[other], (name, moved)
