"""pytest-benchmark: one training step of the embedded DiT through the Engine, per preset.

Run with ``python -m pytest tests/bench --benchmark-enable``; step time is the benchmark, peak
resident memory of the process (per rank: one rank here) goes to ``extra_info``."""

import resource

import pytest
import torch

from harness.engine import Engine, EngineConfig
from harness.models.edit_model import EditModel




@pytest.mark.parametrize("preset", ["single", "zero2", "zero3"])
def test_train_step(benchmark, preset, clean_dist_env):
    engine = Engine(EngineConfig(preset=preset, micro_batch_size=8, cpu=True), trained=["generator"])
    torch.manual_seed(0)
    model = EditModel.tiny_sd3(train_text_encoder=False)
    model.requires_grad_(False)
    for p in model.trainable_parameters():
        p.requires_grad_(True)
    wrapped = engine.prepare("generator", model, torch.optim.AdamW(model.trainable_parameters(), lr=1e-4))
    x0, noise = torch.rand(8, 3, 32, 32) * 2 - 1, torch.randn(8, 3, 32, 32)
    text = ["a red circle on a white background"] * 8

    def step():
        t = torch.rand(8)
        x_t = (1 - t.view(-1, 1, 1, 1)) * x0 + t.view(-1, 1, 1, 1) * noise
        loss = ((wrapped(x_t, t, text) - (noise - x0)) ** 2).mean()
        engine.backward("generator", loss)
        engine.step("generator")
        return float(loss.detach())

    loss = benchmark(step)
    benchmark.extra_info["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert loss == loss  # finite: a NaN would not equal itself
