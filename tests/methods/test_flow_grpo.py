"""Flow-GRPO pieces: on-policy ratio 1 and KL 0, group advantages, and a tiny end-to-end update."""

import copy
import dataclasses
from types import SimpleNamespace

import pytest
import torch

from harness.editor import trainable
from harness.models.edit_model import EditModel
from harness.models.trained import Trained
from methods.flow_grpo.config import FlowGRPOConfig
from methods.flow_grpo.method import FlowGRPO
from methods.flow_grpo.objective import group_advantages, ppo_clip_loss


def test_group_advantages_have_zero_mean_per_group_and_drop_flat_groups():
    rewards = torch.tensor([0.1, 0.5, 0.9, 0.3, 0.7, 0.7, 0.7, 0.7])
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    for global_std in (True, False):
        adv, keep = group_advantages(rewards, groups, global_std=global_std)
        assert float(adv[:4].sum()) == pytest.approx(0.0, abs=1e-6)
        assert keep.tolist() == [True] * 4 + [False] * 4 and torch.all(adv[4:] == 0)
    local, _ = group_advantages(rewards, groups, global_std=False)
    torch.testing.assert_close(local[:4], (rewards[:4] - 0.45) / (rewards[:4].std() + 1e-4))
    clipped, _ = group_advantages(torch.tensor([0.0, 0.0, 0.0, 1.0]), torch.zeros(4), global_std=False, clip=1.0)
    assert float(clipped.max()) == 1.0


def test_ppo_clip_limits_the_ratio_and_is_exactly_one_on_policy():
    logp = torch.tensor([0.0, 0.0])
    loss, stats = ppo_clip_loss(logp, logp.clone(), torch.tensor([1.0, -1.0]), 1e-4)
    assert stats["ratio"] == 1.0 and stats["clipfrac"] == 0.0 and float(loss) == 0.0
    # A ratio far above 1 with a positive advantage earns no more than the clipped value.
    big, _ = ppo_clip_loss(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([1.0]), 0.1)
    assert float(big) == pytest.approx(-1.1)


@pytest.fixture
def grpo(tiny_teacher):
    gen = trainable(EditModel.from_teacher(tiny_teacher))
    m = FlowGRPO(FlowGRPOConfig(group_size=2, batch_size=2, rollout_steps=3, beta=0.04), ctx=None)
    m.gen, m.reference = Trained(gen, gen), copy.deepcopy(gen).requires_grad_(False)
    m.engine = SimpleNamespace(device=torch.device("cpu"), rank=0)
    return m


def test_on_policy_ratio_is_one_and_kl_zero_at_init(grpo):
    torch.manual_seed(0)
    batch = {"source": torch.rand(2, 3, 32, 32), "instruction": ["make the red circle blue", "remove the square"]}
    with torch.no_grad():
        source, instructions, ref, traj = grpo.rollout(batch)
    assert source.shape[0] == 4 and traj.log_probs.shape == (4, 3)
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5])
    loss, stats = grpo.policy_loss(traj, instructions, ref, adv, torch.ones(4, dtype=torch.bool))
    assert stats["ratio"] == 1.0 and stats["kl"] == 0.0 and stats["clipfrac"] == 0.0
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in grpo.gen.bare.transformer.parameters())


def test_trained_steps_skip_the_last_and_respect_the_window(grpo):
    traj = SimpleNamespace(sde_mask=[True, True, True])
    assert grpo.trained_steps(traj) == [0, 1]  # int(3 * 0.99) = 2: the last step is not trained
    traj = SimpleNamespace(sde_mask=[False, True, False])
    assert grpo.trained_steps(traj) == [1]


def _grpo_on_engine(tiny_teacher, lr: float):
    from harness.engine import Engine, EngineConfig

    cfg = FlowGRPOConfig(group_size=4, batch_size=2, rollout_steps=3, beta=0.0, lr=lr, identity_warmup=0)
    m = FlowGRPO(cfg, ctx=None)
    m.engine = Engine(EngineConfig(preset="single", micro_batch_size=2, cpu=True), trained=["generator"])
    gen = EditModel.from_teacher(tiny_teacher)
    m.reference = copy.deepcopy(gen).requires_grad_(False)
    m.gen = m.prepare_generator(m.engine, gen, cfg.lr)
    source = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    m.batches = lambda step: {"source": source, "instruction": ["make the red circle blue", "remove the square"]}
    return m


@torch.no_grad()
def _trajectory_log_prob(m, traj, instructions, ref) -> torch.Tensor:
    """Log-prob of the rollout's own trained steps under the current policy, per sample."""
    from harness.models.sde import sde_step_with_logprob

    total = torch.zeros(ref.shape[0])
    for j in m.trained_steps(traj):
        v = m.gen.velocity(traj.xs[j], traj.times[j], instructions, ref=ref)
        total += sde_step_with_logprob(v, traj.xs[j], traj.times[j], traj.times[j + 1], m.cfg.noise_level,
                                       m.cfg.sde_type, t_max=traj.times[1], prev_sample=traj.xs[j + 1]).log_prob
    return total


def test_one_update_raises_the_log_prob_of_the_better_rollouts(tiny_teacher):
    """On a fixed rollout batch with non-zero advantages, one update moves probability toward the rollouts
    with A > 0 and away from those with A < 0; the step logs its gradient norm and parameter change."""
    torch.manual_seed(0)
    m = _grpo_on_engine(tiny_teacher, lr=1e-3)
    batch = m.batches(0)
    with torch.no_grad():
        source, instructions, ref, traj = m.rollout(batch)
    old = _trajectory_log_prob(m, traj, instructions, ref)
    rewards = torch.tensor([0.9, 0.1, 0.6, 0.2, 0.3, 0.8, 0.1, 0.5])
    adv, keep = group_advantages(rewards, torch.arange(8) // 4)
    loss, _ = m.policy_loss(traj, instructions, ref, adv, keep)
    m.engine.backward("generator", loss)
    before = m.snapshot()
    m.step_generator()
    stats = m.update_stats(before)
    delta = _trajectory_log_prob(m, traj, instructions, ref) - old
    assert float((delta * adv).sum()) > 0
    assert float(delta[adv > 0].mean()) > float(delta[adv < 0].mean())
    assert stats["grad_norm"] > 0 and stats["update_norm"] > 0


def test_flow_grpo_updates_raise_a_simple_reward(tiny_teacher):
    """The whole update (rollout, group advantages, PPO-clip, engine step) climbs a reward it can reach:
    mean brightness of the output, for a fixed batch."""
    torch.manual_seed(0)
    m = _grpo_on_engine(tiny_teacher, lr=2e-3)
    m.rewards = lambda batch, src, images: (images.mean((1, 2, 3)),) * 2 + ({},)
    rewards = [m.train_step(step)["reward"] for step in range(20)]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert last > first + 0.03, (first, last)


def test_curve_points_carry_the_methods_judge_reward_on_fixed_samples(tiny_scorer):
    from harness.runner import curve_judge_reward
    from harness.scorers.reward import judge_verdicts
    from harness.world.dataset import WorldConfig, build_split

    samples = build_split(WorldConfig(n_eval=6), "eval")[:6]
    outputs = torch.stack([s.target for s in samples]).flip(-1)  # any outputs: mirrored targets
    got = curve_judge_reward(SimpleNamespace(scorer=tiny_scorer), samples, outputs)
    v = judge_verdicts(tiny_scorer, torch.stack([s.source for s in samples]), outputs, samples)
    assert got["eval_judge_reward"] == pytest.approx(float(((v["edit"] + v["identity"]) / 2).mean()))
    assert got["eval_judge_identity"] == pytest.approx(float(v["identity"].mean()))
    assert curve_judge_reward(SimpleNamespace(), samples, outputs) == {}  # a method without a judge
    external = [dataclasses.replace(s, category="free-form") for s in samples]  # no question templates
    assert curve_judge_reward(SimpleNamespace(scorer=tiny_scorer), external, outputs) == {}


def test_logit_reward_scale_feeds_log_odds_to_the_advantages_and_logs_p(tiny_scorer):
    from harness.scorers.reward import judge_verdicts
    from harness.world.dataset import WorldConfig, build_split

    samples = build_split(WorldConfig(n_eval=4), "eval")[:2]
    batch = {k: [getattr(s, k) for s in samples] for k in ("category", "instruction", "object_name")}
    source = torch.stack([s.source for s in samples]).repeat_interleave(2, dim=0)
    images = torch.rand(source.shape, generator=torch.Generator().manual_seed(0))
    v = judge_verdicts(tiny_scorer, source, images, [samples[i // 2] for i in range(4)])
    for scale in ("prob", "logit"):
        m = FlowGRPO(FlowGRPOConfig(group_size=2, reward_scale=scale, reward_edit_weight=3.0), ctx=None)
        m.scorer = tiny_scorer
        reward, prob, stats = m.rewards(batch, source, images)
        assert torch.allclose(prob, (3 * v["edit"] + v["identity"]) / 4, atol=1e-6)
        f = torch.logit if scale == "logit" else (lambda p: p)
        assert torch.allclose(reward, (3 * f(v["edit"]) + f(v["identity"])) / 4, atol=1e-5)
    assert stats["reward_logit"] == pytest.approx(float(reward.mean()), abs=1e-6)
