"""Run by test_distributed.py under torchrun: a toy fit through the Engine on 2 ranks."""

import json
import sys

import torch

from harness.engine import Engine, EngineConfig, shutdown_distributed

preset, out = sys.argv[1], sys.argv[2]
engine = Engine(EngineConfig(preset=preset, micro_batch_size=4, cpu=True), trained=["gen"])
torch.manual_seed(0)  # same init on every rank
model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
model = engine.prepare("gen", model, torch.optim.SGD(model.parameters(), lr=0.05))
g = torch.Generator().manual_seed(100 + engine.rank)  # each rank its own data shard
losses = []
for _ in range(5):
    x = torch.randn(4, 4, generator=g)
    loss = ((model(x.to(engine.device)) - x.sum(1, keepdim=True).to(engine.device)) ** 2).mean()
    engine.backward("gen", loss)
    engine.step("gen")
    losses.append(engine.mean(loss.detach()))
first_weight = engine.unwrap("gen")[0].weight.detach().float().flatten()[:4].tolist() if preset != "zero3" else None
result = {"rank": engine.rank, "world": engine.world_size, "losses": losses, "w": first_weight}
with open(f"{out}/rank{engine.rank}.json", "w") as f:
    json.dump(result, f)
shutdown_distributed()
