"""Flow-GRPO (arXiv 2505.05470) for editing, as the official code does it (reference/baselines.md §1).

Each update: for every (source, instruction) draw G SDE rollouts with per-step log-probs; score
the final images with the judge (P of the correct answer to the edit and identity questions);
turn rewards into group-relative advantages; then recompute the log-probs of the rollout's own
steps with gradient and minimise the PPO-clip loss plus beta * KL to the initial policy.
"""

from __future__ import annotations

import torch

from harness.data import StepBatches
from harness.data_jsonl import training_data
from harness.editor import GeneratorMethod, euler_edit, initial_generator
from harness.models.sde import sde_sample, sde_step_with_logprob
from harness.models.generator import build_generator, reference_model
from harness.scorers.build import build_scorer
from harness.scorers.reward import judge_verdicts
from methods.flow_grpo.config import FlowGRPOConfig
from methods.flow_grpo.objective import gaussian_kl, group_advantages, ppo_clip_loss


class FlowGRPO(GeneratorMethod):
    Config = FlowGRPOConfig
    trainable = True
    trained_models = ("generator",)

    def setup(self, engine) -> None:
        cfg, run = self.cfg, self.ctx.cfg.run
        self.engine = engine
        with engine.building_frozen():
            family = build_generator(self.ctx)
            family.teacher()  # built here, where frozen models are built (outside ZeRO-3 init)
            self.scorer = build_scorer(cfg.scorer, self.ctx)
        generator = initial_generator(cfg, family, self.ctx.run_dir)
        self.reference = engine.frozen(reference_model(family, generator))  # pi_ref: the initial weights
        self.gen = self.prepare_generator(engine, generator, cfg.lr)
        self.batches = StepBatches(training_data(self.ctx, paired=False), cfg.batch_size, run.seed, engine.rank,
                                   engine.world_size, paired=False, data_fraction=cfg.data_fraction)

    # ------------------------------------------------------------------ pieces
    def rollout(self, batch: dict):
        cfg = self.cfg
        g = cfg.group_size
        source = batch["source"].repeat_interleave(g, dim=0).to(self.engine.device)
        instructions = [s for s in batch["instruction"] for _ in range(g)]
        ref = self.gen.encode_image(source)
        if cfg.same_noise_in_group:
            noise = torch.randn(ref[::g].shape).repeat_interleave(g, dim=0).to(ref.device)
        else:
            noise = torch.randn(ref.shape).to(ref.device)
        window = tuple(cfg.sde_window) if cfg.sde_window else None
        traj = sde_sample(self.gen, instructions, cfg.rollout_steps, noise, ref=ref, noise_level=cfg.noise_level,
                          sde_type=cfg.sde_type, window=window)
        return source, instructions, ref, traj

    def rewards(self, batch: dict, source: torch.Tensor, images: torch.Tensor):
        """(reward the advantages use, P(correct) to log, stats)."""
        g = self.cfg.group_size
        samples = [{k: batch[k][i // g] for k in ("category", "instruction", "object_name")}
                   for i in range(source.shape[0])]
        v = judge_verdicts(self.scorer, source, images, samples)
        we, wi = self.cfg.reward_edit_weight, self.cfg.reward_identity_weight
        mix = lambda e, i: (we * e + wi * i) / max(we + wi, 1e-12)  # noqa: E731
        prob = mix(v["edit"], v["identity"])  # P(correct): what is logged and compared across runs
        stats = {"reward_edit": float(v["edit"].mean()), "reward_identity": float(v["identity"].mean())}
        if self.cfg.reward_scale == "prob":
            return prob, prob, stats
        # advantages from log-odds: P saturates near 0 and 1
        lo = {k: torch.logit(p.clamp(1e-4, 1 - 1e-4)) for k, p in v.items()}
        reward = mix(lo["edit"], lo["identity"])
        return reward, prob, {**stats, "reward_logit": float(reward.mean())}

    def trained_steps(self, traj) -> list[int]:
        """Stochastic steps, minus the last ones (timestep_fraction): their Gaussians are too sharp."""
        n_train = int(self.cfg.rollout_steps * self.cfg.timestep_fraction)
        return [j for j in range(n_train) if traj.sde_mask[j]]

    def policy_loss(self, traj, instructions, ref, adv, keep) -> tuple[torch.Tensor, dict]:
        cfg = self.cfg
        steps = self.trained_steps(traj)
        total = torch.zeros((), device=ref.device)
        stats: dict[str, float] = {}
        for j in steps:
            t, t_next = traj.times[j], traj.times[j + 1]
            v = self.gen.velocity(traj.xs[j], t, instructions, ref=ref)
            step = sde_step_with_logprob(v, traj.xs[j], t, t_next, cfg.noise_level, cfg.sde_type,
                                         t_max=traj.times[1], prev_sample=traj.xs[j + 1])
            loss, s = ppo_clip_loss(step.log_prob, traj.log_probs[:, j], adv, cfg.clip_range, weight=keep.float())
            if cfg.beta > 0:
                with torch.no_grad():
                    v_ref = self.reference.velocity(traj.xs[j], t, instructions, ref=ref)
                    mean_ref = sde_step_with_logprob(v_ref, traj.xs[j], t, t_next, cfg.noise_level, cfg.sde_type,
                                                     t_max=traj.times[1], prev_sample=traj.xs[j + 1]).mean
                kl = gaussian_kl(step.mean, mean_ref, step.std).mean()
                loss = loss + cfg.beta * kl
                s["kl"] = float(kl.detach())
            total = total + loss / len(steps)
            for k, val in s.items():
                stats[k] = stats.get(k, 0.0) + val / len(steps)
        return total, stats

    # ------------------------------------------------------------------ one update
    def train_step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        batch = self.batches(step)
        if step < self.warmup_steps():
            return self.identity_step(self.gen.encode_image(batch["source"].to(self.engine.device)),
                                      batch["instruction"])
        with torch.no_grad():
            source, instructions, ref, traj = self.rollout(batch)
            images = self.gen.decode(traj.xs[-1])
        reward, prob, reward_stats = self.rewards(batch, source, images)
        b = reward.shape[0]
        self.count("nfe", b * cfg.rollout_steps)
        self.count("vlm_calls", 2 * b)
        # Every rank's rewards join before advantages (global std); groups stay on their rank.
        groups = torch.arange(b) // cfg.group_size + self.engine.rank * cfg.batch_size
        all_r, all_g = self.engine.gather(reward), self.engine.gather(groups)
        adv_all, keep_all = group_advantages(all_r.cpu(), all_g.cpu(), cfg.global_std, cfg.adv_clip_max)
        mine = slice(self.engine.rank * b, (self.engine.rank + 1) * b)
        adv, keep = adv_all[mine].to(ref.device), keep_all[mine].to(ref.device)
        # Zero-advantage groups weigh 0 but are still computed: every rank runs the same passes.
        loss, stats = self.policy_loss(traj, instructions, ref, adv, keep)
        self.engine.backward("generator", loss)
        before = self.snapshot()
        self.step_generator()
        stats |= self.update_stats(before)
        self.count("nfe", b * len(self.trained_steps(traj)))
        all_p = all_r if prob is reward else self.engine.gather(prob)
        return {"loss_policy": float(loss.detach()), "reward": float(all_p.mean()),
                "reward_std": float(all_r.std()) if all_r.numel() > 1 else 0.0,
                "zero_std_ratio": float(1 - keep_all.float().mean()), **reward_stats, **stats}

    def edit(self, samples, steps: int | None = None) -> torch.Tensor:
        with self.editing_weights():
            return euler_edit(self.gen, samples, steps or self.cfg.inference_steps, self.ctx.cfg.run.seed,
                              self.engine.device)
