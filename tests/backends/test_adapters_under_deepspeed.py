"""Two LoRA adapters of one shared Kontext base, each in its own DeepSpeed ZeRO-2 engine (NP-Edit's generator
and auxiliary model): a generator step moves only ``gen``, an aux step only ``aux``, and the base never."""

import pytest
import torch

from harness.config import load_config
from harness.engine import Engine, EngineConfig
from harness.method import RunContext
from methods.npedit.method import NPEdit


@pytest.mark.parametrize("preset", ["zero2"])
def test_each_engine_steps_only_its_adapter(preset, tmp_path, clean_dist_env, kontext_dir, qwen25vl_dir, jsonl_data):
    cfg = load_config("default", [
        "methods=npedit", "calibration=[]", "generator=flux_kontext", f"generator.path={kontext_dir}",
        "generator.resolution=64", "generator.lora_rank=4", "generator.lora_alpha=8", "scorer=qwen2_5_vl",
        f"scorer.path={qwen25vl_dir}", f"data.unpaired={jsonl_data['unpaired']}", "npedit.single_step_iters=0",
        "npedit.batch_size=2", "npedit.aux_updates_per_step=1", "npedit.do_nothing_prob=0", "npedit.lr=1e-2",
        "npedit.aux_lr=1e-2"])
    ctx = RunContext(cfg=cfg, run_dir=tmp_path, home=tmp_path, device=torch.device("cpu"))
    method = NPEdit(cfg.methods["npedit"], ctx, name="npedit")
    engine = Engine(EngineConfig(preset=preset, micro_batch_size=2, max_grad_norm=2.0, cpu=True),
                    trained=["generator", "aux"])
    method.setup(engine)
    transformer = method.gen.bare.transformer
    snap = lambda: {n: p.detach().clone() for n, p in transformer.named_parameters()}
    moved = []
    real_step = engine.step

    def recording_step(name):
        before = snap()
        real_step(name)
        after = snap()
        moved.append((name, {n for n in before if not torch.equal(before[n], after[n])}))

    engine.step = recording_step
    torch.manual_seed(0)
    method.train_step(0)
    assert [m for m, _ in moved] == ["generator", "aux"]
    gen_moved, aux_moved = moved[0][1], moved[1][1]
    assert gen_moved and all(".gen." in n for n in gen_moved)
    assert aux_moved and all(".aux." in n for n in aux_moved)
