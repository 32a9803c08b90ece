"""The exact posterior mean E[x0 | x_t, scene structure] that the teacher can regress on."""
import numpy as np
import pytest
import torch

from harness.models.samplers import timesteps
from harness.world.oracle import parse
from harness.world.palette import SIZE_ORDER
from harness.world.posterior import cell_posteriors, posterior_mean
from harness.world.render import render, render_batch
from harness.world.scene import GRID, Obj, Scene, in_bounds, placements, random_scene


def _brute_force(x_t: torch.Tensor, t: float, scene: Scene) -> torch.Tensor:
    """Enumerate every placement of a 2-object scene, render it, weight it by the full Gaussian
    likelihood (no factorisation) and by random_scene's prior computed with scene.placements."""
    a_shape, b_shape = scene.objects
    spots = [(s, x, y) for s in SIZE_ORDER for y in range(GRID) for x in range(GRID)
             if in_bounds(Obj("circle", "red", s, x, y))]
    logw, imgs = [], []
    for pa in spots:
        a = Obj(a_shape.shape, a_shape.color, *pa)
        # prior of b after a: a size uniformly, then a uniform cell of that size that fits (else any fit)
        prior_b: dict = {}
        for size in SIZE_ORDER:
            fit = placements([a], [size]) or placements([a])
            for pb in fit:
                prior_b[pb] = prior_b.get(pb, 0.0) + 1 / len(fit) / len(SIZE_ORDER)
        for pb, p_b in prior_b.items():
            x0 = render(Scene(scene.background, (a, Obj(b_shape.shape, b_shape.color, *pb)))).double() * 2 - 1
            ll = -((x_t.double() - (1 - t) * x0) ** 2).sum() / (2 * t * t)
            logw.append(float(ll) + np.log(p_b / len(spots)))
            imgs.append(x0)
    w = torch.softmax(torch.tensor(logw, dtype=torch.float64), 0)
    return (w[:, None, None, None] * torch.stack(imgs)).sum(0).float()


@pytest.mark.parametrize("t", [0.5, 0.8])
def test_two_object_posterior_matches_brute_force_enumeration(t):
    # same colour on purpose: the factorised likelihood must still not let one object claim the other's pixels
    scene = Scene("gray", (Obj("square", "red", "large", 2, 2), Obj("circle", "red", "medium", 5, 5)))
    g = torch.Generator().manual_seed(0)
    x0 = render(scene) * 2 - 1
    x_t = (1 - t) * x0 + t * torch.randn(x0.shape, generator=g)
    fast = posterior_mean(x_t[None], t, [scene])[0]
    slow = _brute_force(x_t, t, scene)
    assert torch.allclose(fast, slow, atol=1e-4), float((fast - slow).abs().max())


def test_posterior_mean_recovers_x0_at_low_noise_and_the_prior_mean_at_pure_noise():
    rng = np.random.default_rng(1)
    scenes = [random_scene(rng) for _ in range(6)]
    x0 = render_batch(scenes) * 2 - 1
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    low = posterior_mean(0.98 * x0 + 0.02 * eps, 0.02, scenes)
    assert torch.allclose(low, x0, atol=1e-5)
    # at t = 1 x_t carries no information: the answer cannot depend on which noise was drawn
    a = posterior_mean(eps, 1.0, scenes)
    b = posterior_mean(torch.randn(x0.shape, generator=torch.Generator().manual_seed(2)), 1.0, scenes)
    assert torch.allclose(a, b, atol=1e-3)
    assert not torch.allclose(a, x0, atol=0.1)  # ...and it is a blur, not the scene


def test_sampling_with_the_exact_denoiser_draws_the_captioned_scene():
    # the ODE driven by v = (x - E[x0|x]) / t must land on images the oracle parses as the scene's
    # background and (colour, shape) set, with clean shapes
    rng = np.random.default_rng(2)
    scenes = [random_scene(rng) for _ in range(6)]
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    ts = timesteps(12)
    for i in range(12):
        t, t_next = float(ts[i]), float(ts[i + 1])
        x = x + (t_next - t) * (x - posterior_mean(x, t, scenes)) / t
    for s, img in zip(scenes, ((x + 1) / 2).clamp(0, 1)):
        p = parse(img)
        assert p.scene.background == s.background
        assert sorted((o.color, o.shape) for o in p.scene.objects) == sorted((o.color, o.shape) for o in s.objects)
        assert p.explained > 0.95


def test_posterior_mean_rejects_non_image_input():
    with pytest.raises(ValueError, match="square RGB"):
        posterior_mean(torch.zeros(1, 4, 32, 32), 0.5, [Scene("white", ())])


def test_cell_posterior_is_bayes_over_the_placements_of_one_object():
    # one object: P(cell) = sum over sizes of prior(size, cell) x likelihood, normalised; the prior is a
    # uniform size, then a uniform cell among those where that size fits
    scene = Scene("white", (Obj("triangle", "blue", "medium", 3, 4),))
    t = 0.85
    x0 = render(scene) * 2 - 1
    x_t = (1 - t) * x0 + t * torch.randn(x0.shape, generator=torch.Generator().manual_seed(4))
    logw, cells = [], []
    for size in SIZE_ORDER:
        spots = [(x, y) for y in range(GRID) for x in range(GRID) if in_bounds(Obj("circle", "red", size, x, y))]
        for x, y in spots:
            img = render(Scene("white", (Obj("triangle", "blue", size, x, y),))).double() * 2 - 1
            ll = -((x_t.double() - (1 - t) * img) ** 2).sum() / (2 * t * t)
            logw.append(float(ll) - np.log(len(spots)))
            cells.append(y * GRID + x)
    w = torch.softmax(torch.tensor(logw, dtype=torch.float64), 0)
    slow = torch.zeros(GRID * GRID, dtype=torch.float64).index_add_(0, torch.tensor(cells), w)
    fast = cell_posteriors(x_t[None], t, [scene])[0]
    assert fast.shape == (1, GRID * GRID)
    assert torch.allclose(fast[0].double(), slow, atol=1e-5)
    assert 0.05 < float(fast.max()) < 0.99  # at t = 0.85 the place is still uncertain: a real test of the weights


def test_cell_posteriors_sum_to_one_and_find_the_objects_at_low_noise():
    rng = np.random.default_rng(5)
    scenes = [random_scene(rng) for _ in range(5)] + [Scene("black", ())]
    x0 = render_batch(scenes) * 2 - 1
    x_t = 0.95 * x0 + 0.05 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(5))
    posts = cell_posteriors(x_t, 0.05, scenes)
    for scene, p in zip(scenes, posts):
        assert p.shape == (len(scene.objects), GRID * GRID)
        assert torch.allclose(p.sum(1), torch.ones(len(scene.objects)), atol=1e-5)
        for j, o in enumerate(scene.objects):
            assert float(p[j, o.y * GRID + o.x]) > 0.99
