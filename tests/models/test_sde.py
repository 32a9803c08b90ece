"""SDE step: log-prob equals the Gaussian density; noise_level 0 is the Euler ODE."""

import math

import pytest
import torch

from harness.models.samplers import euler_sample
from harness.models.sde import sde_sample, sde_step_with_logprob


class Linear:
    """v(x, t) = a x + b t: cheap and non-trivial."""

    def velocity(self, x, t, text, ref=None):
        return 0.3 * x + 0.5 * t


@pytest.mark.parametrize("t, t_next", [(0.75, 0.5), (0.3, 0.2)])
def test_sde_log_prob_matches_gaussian_density(t, t_next):
    g = torch.Generator().manual_seed(0)
    x, v = torch.randn(4, 3, 5, 5, generator=g), torch.randn(4, 3, 5, 5, generator=g)
    step = sde_step_with_logprob(v, x, t, t_next, noise_level=0.7, generator=g)
    sigma_t = 0.7 * math.sqrt(t / (1 - t))
    dt = t_next - t
    mean = x + (v + sigma_t**2 / (2 * t) * (x + (1 - t) * v)) * dt  # the SDE drift, written independently
    dist = torch.distributions.Normal(mean, sigma_t * math.sqrt(-dt))
    expected = dist.log_prob(step.x_next).flatten(1).mean(1)
    torch.testing.assert_close(step.log_prob, expected, rtol=1e-5, atol=1e-5)


def test_scoring_a_given_sample_reproduces_the_rollout_log_prob():
    g = torch.Generator().manual_seed(1)
    x, v = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    first = sde_step_with_logprob(v, x, 0.6, 0.4, 0.7, generator=g)
    again = sde_step_with_logprob(v, x, 0.6, 0.4, 0.7, prev_sample=first.x_next)
    assert torch.equal(first.log_prob, again.log_prob)  # on-policy ratio exp(0) == 1 exactly


def test_cps_log_prob_is_negative_squared_error_to_its_mean():
    g = torch.Generator().manual_seed(2)
    x, v = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    step = sde_step_with_logprob(v, x, 0.6, 0.4, 0.8, sde_type="cps", generator=g)
    std = 0.4 * math.sin(0.8 * math.pi / 2)
    mean = (x - 0.6 * v) * 0.6 + (x + 0.4 * v) * math.sqrt(0.4**2 - std**2)
    torch.testing.assert_close(step.log_prob, -((step.x_next - mean) ** 2).flatten(1).mean(1))


def test_noise_level_zero_is_the_euler_ode():
    noise = torch.randn(3, 3, 6, 6, generator=torch.Generator().manual_seed(3))
    traj = sde_sample(Linear(), ["a"] * 3, 6, noise, noise_level=0.0)
    torch.testing.assert_close(traj.xs[-1], euler_sample(Linear(), ["a"] * 3, 6, noise), rtol=1e-6, atol=1e-6)


def test_window_makes_only_its_steps_stochastic():
    noise = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(4))
    traj = sde_sample(Linear(), ["a"] * 2, 5, noise, noise_level=0.7, window=(1, 3),
                      generator=torch.Generator().manual_seed(5))
    assert traj.sde_mask == [False, True, True, False, False]
    assert traj.log_probs.shape == (2, 5)
    assert torch.all(traj.log_probs[:, 0] == 0) and torch.all(traj.log_probs[:, 1] != 0)


def test_bad_sde_type_is_named():
    with pytest.raises(ValueError, match="sde_type"):
        sde_step_with_logprob(torch.zeros(1, 1), torch.zeros(1, 1), 0.5, 0.4, 0.7, sde_type="ode")
