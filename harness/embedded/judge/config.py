"""The embedded judge's config, apart from its training code so that the CLI imports it cheaply.

What each default rests on (run names, held-out numbers): docs/embedded_models.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from harness.scorers.questions import PROBES

JUDGE_VERSION = "tiny-llava-judge-3"
# Options added after judges were cached, with their neutral value: left out of the cache key while
# they hold it, so an upgrade keeps the trained judge (the teacher does the same).
ADDED_OPTIONS = {"change_aux_weight": 0.0, "change_crops": False, "object_crops": False, "grain_prob": 0.0,
                 "count_near_share": 0.0}
# Options deleted because they measured no gain, with the value every cached (and the shipped) judge was
# trained with. cache_key() puts them back, so the key, and with it the shipped judge's folder name, stays
# byte-identical. Retired options that were already left out of the key at their default (the violation
# channel, the difference image, the size questions) need nothing here.
RETIRED = {"vision_model": "clip", "images_first": True, "describe_steps": 0, "describe_batch": 16,
           "describe_every": 0, "vision_pretrain_projector": False, "dense_aux_weight": 0.0,
           "dense_aux_batch": 32, "freeze_vision_steps": 0}


@dataclass
class JudgeConfig:
    seed: int = 0
    image_size: int = 32  # world resolution: no resize in the preprocessing
    # 8 px patches, 16 tokens per image (the patch embedding still sees every pixel); patch 4 costs ~3x a step
    patch_size: int = 8
    vision_hidden: int = 96  # CLIP vision tower; a larger one was no better at equal steps
    vision_layers: int = 3
    vision_heads: int = 4
    text_hidden: int = 128  # Llama language model; a larger one was no better and slower
    text_layers: int = 3
    text_heads: int = 4
    text_intermediate: int = 256
    rope_theta: float = 1000.0
    # initializer_range of the language model and projector: the HF default 0.02 leaves attention uniform
    # and the losses at chance for hundreds of steps
    init_std: float = 0.1
    pos_init_std: float = 0.0  # >0: re-initialise the vision position embeddings with this std
    # LLaVA steps (after the vision pretraining): as many as ~12 CPU-minutes on one thread allow
    steps: int = 2100
    pair_batch: int = 32  # two-image questions per step
    single_batch: int = 16  # one-image questions per step
    lr: float = 1e-3  # 2e-3 and 3e-3 left colour and shape at chance
    warmup: int = 100
    weight_decay: float = 0.01
    # one-image probe questions used; a type listed k times is drawn k times as often: colour and shape need
    # the most steps to leave their plateau
    probe_types: list[str] = field(default_factory=lambda: ["presence", "color", "color", "count", "background",
                                                             "shape", "shape", "shape"])
    remove_share: float = 0.3  # share of one-image questions that are the removal edit question
    # training only: share of the count question's "No" cases asked with a count next to the true one (the
    # 2-vs-3 confusion); the rest, and every held-out question, draw any wrong count. 0: the old draw
    count_near_share: float = 0.6
    single_only_steps: int = 700  # curriculum: one-image questions (+ VQA) only, before the pairs
    # curriculum: the first N LLaVA steps ask one-image questions about one-object scenes, where shape leaves
    # chance after ~150 steps (on 1-3-object scenes it does not within 450)
    one_object_steps: int = 400
    one_object_pair_steps: int = 400  # the same for the first N steps with two-image questions
    identity_share: float = 0.65  # share of identity (vs edit) questions among the two-image questions
    # one-word-answer questions (background/colour/shape/count) per step, an auxiliary LM loss: it is what
    # lifts the one-image questions off their plateau
    vqa_batch: int = 32
    vqa_every: int = 1  # add the VQA loss every N steps (every 4: the one-image questions stayed at chance)
    degrade_prob: float = 0.1  # share of "No" answers that are blurred/noisy versions of a "Yes" image
    # share of the other examples whose last image gets faint noise (sigma ~ U(0, grain_sigma)), answer
    # unchanged, in the vision pretraining too: else the judge reads any grain as a change
    grain_prob: float = 0.3
    grain_sigma: float = 0.04  # well under the heavy noise of a degraded negative (0.08-0.25)
    # vision-tower pretraining before the LLaVA loop (vision_pretrain.py): dense per-cell targets from the
    # scene graph, since a 1-bit Yes/No signal teaches the tower far too slowly. 0: off
    vision_pretrain_steps: int = 800
    vision_pretrain_lr: float = 2e-3  # AdamW lr of that stage (warmup + cosine), tower + linear heads
    vision_pretrain_batch: int = 64  # fresh random scenes per pretraining step
    # attribute targets at every cell an object covers, not only its centre: shape then survives the LLaVA stage
    vision_pretrain_cover: bool = True
    # dense pair supervision (losses.change_map_loss): from the second image's tokens at LM layer
    # change_aux_layer, predict which patches differ from the first image. Training only; 0: off
    change_aux_weight: float = 1.0
    change_aux_layer: int = 1
    # two-image questions also see the change crops (scorer.change_crop_slots): the source and the edited image
    # shown only where they differ, so the judge binds a change to the named object; saved beside the judge
    change_crops: bool = True
    # the crops' mask grown to the whole objects it touches (object_masks.py), so a resize or reshape shows the
    # old and the new object whole; saved beside the judge, nothing without the crops
    object_crops: bool = True
    version: str = JUDGE_VERSION

    def cache_key(self) -> dict:
        """The config as the cache hashes it (see ADDED_OPTIONS and RETIRED)."""
        out = asdict(self)
        if out["change_aux_weight"] == ADDED_OPTIONS["change_aux_weight"]:
            out.pop("change_aux_layer")  # the layer means nothing while the loss is off
        if not out["change_crops"]:
            out["object_crops"] = False  # they grow the change crops: nothing to grow without them
        if out["grain_prob"] == ADDED_OPTIONS["grain_prob"]:
            out.pop("grain_sigma")  # the level means nothing while grain is off
        for name, neutral in ADDED_OPTIONS.items():
            if (out[name] is neutral) if isinstance(neutral, bool) else (out[name] == neutral):
                out.pop(name)
        return {**out, **RETIRED}

    def __post_init__(self):
        bad = [t for t in self.probe_types if t not in PROBES]
        if bad or not self.probe_types:
            raise ValueError(f"JudgeConfig.probe_types: unknown or empty {bad or self.probe_types!r}; "
                             f"allowed: {sorted(PROBES)} (repeat one to draw it more often)")
        if not 0.0 <= self.count_near_share <= 1.0:
            raise ValueError(f"JudgeConfig.count_near_share must be in [0, 1], got {self.count_near_share!r}")
        if not 0.0 <= self.grain_prob <= 1.0:
            raise ValueError(f"JudgeConfig.grain_prob must be in [0, 1], got {self.grain_prob!r}")
        if not 0.0 <= self.grain_sigma < 0.08:
            raise ValueError(f"JudgeConfig.grain_sigma must be in [0, 0.08) (from 0.08 on, noise is a degraded "
                             f"negative), got {self.grain_sigma!r}")
        if not 0.0 <= self.identity_share <= 1.0:
            raise ValueError(f"JudgeConfig.identity_share must be in [0, 1], got {self.identity_share}")
        for f in ("one_object_steps", "one_object_pair_steps", "single_only_steps"):
            if not isinstance(getattr(self, f), int) or getattr(self, f) < 0:
                raise ValueError(f"JudgeConfig.{f} must be an int >= 0, got {getattr(self, f)!r}")
