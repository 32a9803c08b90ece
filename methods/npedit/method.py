"""NP-Edit (arXiv 2510.14978): an editing model trained without paired data.

Each generator step (after the identity warm-up): unroll the few-step generator from noise
(1 or 2 steps, gradient through both), ask the frozen VLM the edit and identity questions about
(source, output) -> L_VLM (Eqn 4), match the teacher's distribution through the auxiliary model ->
L_DMD (Eqn 5), step the generator on lambda_VLM L_VLM + lambda_DMD L_DMD, then update the auxiliary
model ``aux_updates_per_step`` times on detached outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.data import StepBatches
from harness.data_jsonl import training_data
from harness.editor import GeneratorMethod, initial_generator, prepare_generator
from harness.models.generator import auxiliary_model, build_generator
from harness.models.losses import uniform_flow_matching_loss
from harness.models.samplers import few_step_sample, shift_t, unrolled_sample
from harness.scorers.build import build_scorer
from harness.scorers.questions import EDIT, questions_for
from methods.npedit.config import NPEditConfig
from methods.npedit.losses import dmd_loss, vlm_loss


class NPEdit(GeneratorMethod):
    Config = NPEditConfig
    trainable = True
    trained_models = ("generator", "aux")

    # ------------------------------------------------------------------ setup
    def setup(self, engine) -> None:
        cfg, run = self.cfg, self.ctx.cfg.run
        self.engine = engine
        with engine.building_frozen():
            family = build_generator(self.ctx)
            teacher = family.teacher()
            self.scorer = build_scorer(cfg.scorer, self.ctx)
        self.teacher = engine.frozen(teacher)
        generator = initial_generator(cfg, family, self.ctx.run_dir)  # the teacher (new inputs at zero), or a chained run
        aux = auxiliary_model(family, teacher)  # the fake-score model starts from the teacher too (§1.4)
        self.gen = self.prepare_generator(engine, generator, cfg.lr, cfg.betas)
        self.aux = prepare_generator(engine, "aux", aux, cfg.aux_lr, cfg.betas)
        self.batches = StepBatches(training_data(self.ctx, paired=False), cfg.batch_size, run.seed, engine.rank,
                                   engine.world_size, paired=False, data_fraction=cfg.data_fraction)

    # ------------------------------------------------------------------ schedule
    def unroll_time(self, step: int) -> float | None:
        """None = single step from t = 1; else the re-noising time of the second step (§1.2)."""
        cfg = self.cfg
        if step < self.warmup_steps() + cfg.single_step_iters:
            return None
        times = sorted(cfg.unroll_times, reverse=True)
        if cfg.unroll_draw == "per_step":  # re-implementation: n ~ U{1..K+1}, n = 1 is a single step
            n = int(torch.randint(len(times) + 1, ()).item())
            return None if n == 0 else float(shift_t(times[n - 1], cfg.unroll_shift))
        return float(shift_t(times[int(torch.randint(len(times), ()).item())], cfg.unroll_shift))

    def logit_scale(self, step: int) -> float:
        ramp = self.cfg.logit_scale_ramp_steps
        return 1.0 if ramp == 0 else min(1.0, 0.1 + 0.9 * step / ramp)

    # ------------------------------------------------------------------ one step
    def train_step(self, step: int) -> dict[str, float]:
        cfg, batch = self.cfg, self.batches(step)
        source = batch["source"].to(self.engine.device)
        ref = self.gen.encode_image(source)
        b = source.shape[0]

        if step < self.warmup_steps():  # phase 1: learn to carry the reference through (§1.6)
            return self.identity_step(ref, batch["instruction"])

        # 1% "do nothing": the instruction becomes empty and the output must equal the input (§1.5)
        idle = torch.rand(b) < cfg.do_nothing_prob
        instructions = [cfg.do_nothing_prompt if i else s for i, s in zip(idle.tolist(), batch["instruction"])]
        t_mid = self.unroll_time(step)
        x = unrolled_sample(self.gen, instructions, torch.randn_like(ref), ref=ref, t_mid=t_mid, renoise=cfg.renoise)
        self.count("nfe", b * (1 if t_mid is None else 2))

        keep = ~idle
        metrics: dict[str, float] = {"two_step": float(t_mid is not None)}
        total = torch.zeros((), device=x.device)
        if keep.any() and cfg.lambda_vlm > 0:
            questions = [self.questions(batch, i) for i in range(b) if keep[i]]
            l_vlm = vlm_loss(self.scorer, source[keep], self.gen.decode(x[keep]), questions, mode=cfg.vlm_loss,
                             logit_scale=self.logit_scale(step), reduce=cfg.question_reduce, stats=metrics)
            total = total + cfg.lambda_vlm * l_vlm
            metrics["loss_vlm"] = float(l_vlm.detach())
            self.count("vlm_calls", sum(len(q) for q in questions))
        if keep.any() and cfg.lambda_dmd > 0:
            captions = [c for c, k in zip(batch["target_caption"], keep.tolist()) if k]
            scale = torch.tensor([cfg.cfg_scale_strong if c in cfg.strong_cfg_categories else cfg.cfg_scale
                                  for c, k in zip(batch["category"], keep.tolist()) if k])
            l_dmd, stats = dmd_loss(x[keep], self.teacher, self.aux, captions, scale, cfg.dmd_t_min, cfg.dmd_t_max)
            total = total + cfg.lambda_dmd * l_dmd
            metrics |= {"loss_dmd": float(l_dmd.detach()), **stats}
            self.count("teacher_nfe", 2 * int(keep.sum()))
            self.count("aux_nfe", int(keep.sum()))
        if idle.any():
            l_idle = F.mse_loss(x[idle], ref[idle])
            total = total + l_idle
            metrics["loss_do_nothing"] = float(l_idle.detach())
        self.engine.backward("generator", total)
        self.step_generator()
        metrics["loss_total"] = float(total.detach())

        # The auxiliary model tracks the generator's current outputs (§1.4).
        if cfg.lambda_dmd > 0:
            for _ in range(cfg.aux_updates_per_step):
                l_aux = uniform_flow_matching_loss(self.aux, x.detach(), list(batch["target_caption"]))
                self.engine.backward("aux", l_aux)
                self.engine.step("aux")
                self.count("aux_nfe", b)
            if cfg.aux_updates_per_step:
                metrics["loss_aux"] = float(l_aux.detach())
        return metrics

    def questions(self, batch: dict, i: int):
        sample = {k: batch[k][i] for k in ("category", "instruction", "object_name")}
        qs = questions_for(sample)
        return qs if self.cfg.identity_question else [q for q in qs if q.kind == EDIT]

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def edit(self, samples, steps: int | None = None) -> torch.Tensor:
        source = torch.stack([s.source for s in samples]).to(self.engine.device)
        ref = self.gen.encode_image(source)
        g = torch.Generator().manual_seed(self.ctx.cfg.run.seed)
        noise = torch.randn(ref.shape, generator=g).to(ref.device)
        with self.editing_weights():
            x = few_step_sample(self.gen, [s.instruction for s in samples], noise,
                                steps or self.cfg.inference_steps, ref=ref, generator=g)
        return self.gen.decode(x).cpu()
