"""Flow-GRPO knobs; official defaults cited from reference/baselines.md §1.1-1.2."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.editor import EditorConfig


@dataclass
class FlowGRPOConfig(EditorConfig):
    steps: int = 160  # identity_warmup + 100 policy updates; CPU budget
    eval_every: int = field(default=20, metadata={"ge": 0})  # learning-curve points for the report
    batch_size: int = 2  # (source, instruction) prompts per update on each rank
    group_size: int = field(default=4, metadata={"ge": 2})  # G rollouts per prompt
    same_noise_in_group: bool = False
    lr: float = 1e-4
    # RL needs an editor that already looks at the source (the paper starts RL from SFT; see npedit.md
    # §2.2). Without init_from, the same identity warm-up as NP-Edit (§1.6) comes first, so both unpaired
    # methods start from the same copy-capable editor. Skipped with init_from.
    identity_warmup: int = field(default=60, metadata={"ge": 0})
    # The warm-up's own rate: zero-initialised reference inputs must grow before the editor copies.
    # Measured (batch 8, 6 Euler steps): at 1e-4 the output is still far from the source after 60
    # steps (pixel MSE 0.19; copying is 0), at 1e-3 it is at 0.04 after 30 steps.
    identity_warmup_lr: float = field(default=1e-3, metadata={"ge": 0.0})

    # Rollouts (§1.1 a, g, h, i)
    rollout_steps: int = field(default=6, metadata={"ge": 1})  # T: denoising reduction (official 10 for SD3.5)
    inference_steps: int = field(default=10, metadata={"ge": 1})  # evaluation steps, ODE
    noise_level: float = field(default=0.7, metadata={"ge": 0.0})  # a; SD3.5 0.7, Kontext 0.9
    sde_type: str = field(default="sde", metadata={"choices": ["sde", "cps"]})
    timestep_fraction: float = field(default=0.99, metadata={"ge": 0.0, "le": 1.0})  # skips the last step
    sde_window: list[int] = field(default_factory=list)  # [start, end): only these steps stochastic; [] = all

    # Advantages (§1.1 d)
    global_std: bool = True  # std over the whole gathered batch (official SD3 configs); False: per group
    adv_clip_max: float = field(default=5.0, metadata={"ge": 0.0})

    # Objective (§1.1 e, f)
    clip_range: float = field(default=1e-4, metadata={"ge": 0.0})
    beta: float = field(default=0.04, metadata={"ge": 0.0})  # KL to the initial policy (GenEval config)

    # Reward = weighted P(correct answer) of the edit and identity questions
    scorer: str = "tiny"
    reward_edit_weight: float = field(default=1.0, metadata={"ge": 0.0})
    reward_identity_weight: float = field(default=1.0, metadata={"ge": 0.0})
    # What the advantages are computed from: each question's P(correct) ("prob", as the judge reports
    # it) or its log-odds ("logit", NP-Edit's loss scale; tells apart outputs P rounds to ~0). The
    # logged `reward` is P either way.
    reward_scale: str = field(default="prob", metadata={"choices": ["prob", "logit"]})
    data_fraction: float = field(default=1.0, metadata={"ge": 0.0, "le": 1.0})
