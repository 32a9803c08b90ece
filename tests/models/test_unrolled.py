"""NP-Edit's unrolled sampler: gradient through both steps; few-step sampler NFE and fixed point."""

import pytest
import torch

from harness.models.samplers import few_step_sample, unrolled_sample


class Affine(torch.nn.Module):
    """v = w * x + b, with counters; its x0 prediction is exact for x0_fixed when w=1, b=-x0."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(0.8))
        self.b = torch.nn.Parameter(torch.tensor(0.1))
        self.calls = []

    def velocity(self, x, t, text, ref=None):
        self.calls.append(float(t))
        return self.w * x + self.b


def test_gradient_reaches_the_first_step_through_the_second():
    model = Affine()
    noise = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    seen = {}
    plain = model.velocity

    def keep_first(x, t, text, ref=None):
        v = plain(x, t, text, ref)
        if t == 1.0:
            v.retain_grad()
            seen["v1"] = v
        return v

    model.velocity = keep_first
    out = unrolled_sample(model, None, noise, t_mid=0.5, renoise="same")
    out.sum().backward()
    # out = x_t - t v(x_t), x_t = (1 - t)(eps - v1) + t eps  =>  d out / d v1 = -(1 - t)(1 - t w)
    expected = -(1 - 0.5) * (1 - 0.5 * 0.8)
    torch.testing.assert_close(seen["v1"].grad, torch.full_like(noise, expected))
    assert model.w.grad is not None and model.w.grad != 0
    assert model.calls == [1.0, 0.5]


def test_single_step_is_one_call_and_x0_from_noise():
    model = Affine()
    noise = torch.randn(1, 3, 2, 2)
    out = unrolled_sample(model, None, noise)
    assert model.calls == [1.0]
    torch.testing.assert_close(out, noise - (0.8 * noise + 0.1))


def test_same_vs_fresh_renoise_differ():
    noise = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    a = unrolled_sample(Affine(), None, noise, t_mid=0.5, renoise="same")
    b = unrolled_sample(Affine(), None, noise, t_mid=0.5, renoise="fresh", generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="renoise"):
        unrolled_sample(Affine(), None, noise, t_mid=0.5, renoise="other")


@pytest.mark.parametrize("steps", [1, 4, 8])
def test_few_step_sampler_nfe_and_fixed_point(steps):
    target = torch.rand(2, 3, 4, 4)

    class Exact:
        calls = 0

        def velocity(self, x, t, text, ref=None):
            Exact.calls += 1
            eps = (x - (1 - t) * target) / t  # the exact velocity of a point mass at target
            return eps - target

    out = few_step_sample(Exact(), None, torch.randn(2, 3, 4, 4), steps=steps)
    assert Exact.calls == steps
    torch.testing.assert_close(out, target)
