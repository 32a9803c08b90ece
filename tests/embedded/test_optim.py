"""The shared AdamW: fused on CPU, and the same update as torch's default per-tensor loop."""
import torch

from harness.embedded.optim import adamw


def _net():
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 1))


def test_fused_adamw_matches_the_default_loop():
    torch.manual_seed(0)
    a, b = _net(), _net()
    b.load_state_dict(a.state_dict())
    start = [p.detach().clone() for p in a.parameters()]
    fast = adamw(a.parameters(), lr=1e-2, betas=(0.9, 0.98), weight_decay=0.01)
    ref = torch.optim.AdamW(b.parameters(), lr=1e-2, betas=(0.9, 0.98), weight_decay=0.01, foreach=False)
    assert fast.defaults["fused"] is True
    x = torch.randn(16, 5)
    for _ in range(5):
        for m, opt in ((a, fast), (b, ref)):
            opt.zero_grad()
            m(x).square().mean().backward()
            opt.step()
    for p, q, p0 in zip(a.parameters(), b.parameters(), start):
        assert not torch.allclose(p, p0)  # the step did something
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_param_groups_are_accepted():
    w = torch.nn.Parameter(torch.ones(3))
    opt = adamw([{"params": [w], "lr": 0.1}], weight_decay=0.0)
    w.sum().backward()
    opt.step()
    assert opt.defaults["fused"] is True and (w < 1).all()
