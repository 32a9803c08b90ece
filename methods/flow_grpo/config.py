"""Flow-GRPO knobs; official defaults cited from reference/baselines.md §1.1-1.2."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.editor import EditorConfig


@dataclass
class FlowGRPOConfig(EditorConfig):
    steps: int = 490  # policy updates: ~10 min on one CPU core (docs/editors_study.md)
    eval_every: int = field(default=40, metadata={"ge": 0})  # learning-curve points for the report
    batch_size: int = 2  # (source, instruction) prompts per update on each rank
    group_size: int = field(default=8, metadata={"ge": 2})  # G rollouts per prompt (official 1-GPU recipe: 8)
    same_noise_in_group: bool = False
    # full fine-tuning of the tiny editor at the official rate (3e-4, on LoRA there); 1e-3 and 2e-3 left it noisier
    # (docs/history/embedded_models_sweeps.md, docs/editors_study.md)
    lr: float = 3e-4
    # Every generator method starts from the prepared editor initialisation (`editor.*`, a clean copier), so
    # no warm-up of its own by default; identity_warmup=N adds N steps of it (NP-Edit §1.6) at identity_warmup_lr
    identity_warmup: int = field(default=0, metadata={"ge": 0})
    identity_warmup_lr: float = field(default=3e-3, metadata={"ge": 0.0})

    # Rollouts (§1.1 a, g, h, i)
    rollout_steps: int = field(default=6, metadata={"ge": 1})  # T: denoising reduction (official 10 for SD3.5)
    inference_steps: int = field(default=10, metadata={"ge": 1})  # evaluation steps, ODE
    noise_level: float = field(default=0.7, metadata={"ge": 0.0})  # a; SD3.5 0.7, Kontext 0.9
    sde_type: str = field(default="sde", metadata={"choices": ["sde", "cps"]})
    timestep_fraction: float = field(default=0.99, metadata={"ge": 0.0, "le": 1.0})  # skips the last step
    # [start, end): only these steps stochastic and trained, ODE elsewhere ([] = all). Flow-GRPO-Fast:
    # a window of 3 in the first half; cleaner final images, half the backward passes.
    sde_window: list[int] = field(default_factory=lambda: [0, 3])

    # Advantages (§1.1 d)
    global_std: bool = True  # std over the whole gathered batch (official SD3 configs); False: per group
    adv_clip_max: float = field(default=5.0, metadata={"ge": 0.0})

    # Objective (§1.1 e, f)
    clip_range: float = field(default=1e-4, metadata={"ge": 0.0})
    # KL to the initial policy: 0 in the official editing configs (Kontext, Qwen-Image-Edit) and Fast
    # ones; 0.04 for SD3 GenEval/OCR. Here 0.04 held the policy at its start (brightness test).
    beta: float = field(default=0.0, metadata={"ge": 0.0})

    # Reward = weighted P(correct answer) of the edit and identity questions
    scorer: str = "tiny"
    reward_edit_weight: float = field(default=1.0, metadata={"ge": 0.0})
    reward_identity_weight: float = field(default=1.0, metadata={"ge": 0.0})
    # What the advantages are computed from: each question's P(correct) ("prob", as the judge reports
    # it) or its log-odds ("logit", NP-Edit's loss scale; tells apart outputs P rounds to ~0). The
    # logged `reward` is P either way.
    reward_scale: str = field(default="prob", metadata={"choices": ["prob", "logit"]})
    data_fraction: float = field(default=1.0, metadata={"ge": 0.0, "le": 1.0})

    def validate(self) -> None:
        super().validate()
        w = self.sde_window
        if w and not (len(w) == 2 and all(isinstance(i, int) for i in w) and 0 <= w[0] < w[1]):
            raise ValueError(f"flow_grpo.sde_window must be [] (all steps) or [start, end) with 0 <= start < end, "
                             f"got {w!r}")
