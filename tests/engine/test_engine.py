"""Engine: the same toy training on single / zero2 / zero3; two models step independently."""


import pytest
import torch

from harness.engine import Engine, EngineConfig




pytestmark = pytest.mark.usefixtures("clean_dist_env")


def _toy(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def _train(preset, steps=6):
    engine = Engine(EngineConfig(preset=preset, micro_batch_size=8, cpu=True), trained=["gen", "aux"])
    gen, aux = _toy(0), _toy(1)
    gen = engine.prepare("gen", gen, torch.optim.SGD(gen.parameters(), lr=0.1))
    aux = engine.prepare("aux", aux, torch.optim.SGD(aux.parameters(), lr=0.1))
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(2)).to(engine.device)
    y = x.sum(1, keepdim=True)
    losses, aux_before = [], [p.detach().clone() for p in engine.unwrap("aux").parameters()]
    for _ in range(steps):
        loss = ((gen(x) - y) ** 2).mean()
        engine.backward("gen", loss)
        assert engine.step("gen")
        losses.append(float(loss.detach()))
    aux_after = [p.detach().clone() for p in engine.unwrap("aux").parameters()]
    return engine, losses, aux_before, aux_after


@pytest.mark.parametrize("preset", ["single", "zero2"])
def test_generator_steps_leave_aux_untouched_and_lower_loss(preset):
    _, losses, aux_before, aux_after = _train(preset)
    assert losses[-1] < losses[0]
    assert all(torch.equal(a, b) for a, b in zip(aux_before, aux_after))


def test_gradient_accumulation_steps_only_at_boundary():
    engine = Engine(EngineConfig(preset="single", grad_accum=2, cpu=True), trained=["gen"])
    model = _toy(0)
    model = engine.prepare("gen", model, torch.optim.SGD(model.parameters(), lr=0.1))
    before = [p.detach().clone() for p in model.parameters()]
    engine.backward("gen", model(torch.ones(2, 4)).mean())
    assert not engine.step("gen")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    engine.backward("gen", model(torch.ones(2, 4)).mean())
    assert engine.step("gen")
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_undeclared_model_is_refused():
    engine = Engine(EngineConfig(preset="single", cpu=True), trained=["gen"])
    with pytest.raises(KeyError, match="declared: gen"):
        engine.prepare("other", _toy(0), torch.optim.SGD(_toy(0).parameters(), lr=0.1))
