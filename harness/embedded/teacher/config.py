"""The embedded teacher's config, apart from its training code so that the CLI imports it cheaply.

Why each default is what it is, measured: docs/embedded_models.md (the run names below)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from harness.world.scene import GRID

TIMESTEP_SCHEMES = ("logit_normal", "uniform", "mode")
# Options added after teachers were first cached, with the value that reproduces the older training
# exactly; at that value they do not enter the cache key (TeacherConfig.cache_key).
ADDED_OPTIONS = {"text_pretrain_steps": 0, "scene_aux_weight": 0.0, "scene_aux_t_weighting": "1-t",
                 "object_count_weights": ()}
# Options that were removed (the DiT and x-prediction teachers, the latent teacher and its world VAE)
# at the only value the teacher still trains with. Every cached teacher's key has them, the shipped one
# included (harness/pretrained/teacher/<key>), so cache_key() adds them back unchanged: without them
# the key, and the folder name it hashes to, would change and orphan every trained teacher.
RETIRED = {"backbone": "unet", "prediction": "velocity", "zero_init": True,
           "patch_size": 4, "num_layers": 4, "num_heads": 4, "head_dim": 32, "caption_projection_dim": 128,
           "latent_channels": 0, "vae_blocks": (32, 64, 64), "vae_steps": 1500, "vae_batch": 32,
           "vae_lr": 2e-3, "vae_kl_weight": 1e-6}


@dataclass
class TeacherConfig:
    """A conv UNet (diffusers' UNet2DConditionModel) + a tiny causal text encoder, trained jointly by
    flow matching on freshly rendered world scenes, in pixel space, predicting the velocity."""

    resolution: int = 32  # the world's image side
    # Steps and batch: the teacher was short of steps more than of samples; 13,200 steps of batch 16 (~110 min
    # of one core) give caption match ~0.89, where batch 8 flattened near 0.8. Too long for a first run, so
    # this default's teacher ships with the package (harness/pretrained/teacher/).
    steps: int = 13200
    batch_size: int = 16
    lr: float = 1e-3  # 3e-3 trained a worse UNet
    warmup_steps: int = 100  # linear warm-up, then cosine decay
    min_lr_ratio: float = 0.05  # cosine decay to lr * this at the end
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    caption_dropout: float = 0.1  # empty prompt this often, so that sampling can use CFG
    # t ~ logit-normal(logit_mean, logit_std) (SD3's default density); unshifted did better than toward noise
    timestep_sampling: str = "logit_normal"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    mode_scale: float = 1.29  # for timestep_sampling="mode" only
    ema_decay: float = 0.995  # 0 disables; the saved teacher is the EMA
    seed: int = 0
    min_objects: int = 1
    max_objects: int = 3
    # Relative frequency of each object count min_objects..max_objects in training scenes (() = uniform): more
    # crowded scenes show more colour-shape bindings per step, which lifted two- and three-object captions.
    object_count_weights: tuple[float, ...] = (1.0, 2.0, 3.0)
    unet_channels: tuple[int, ...] = (16, 32, 64)  # per level; 32 px -> an 8x8 mid block, one cell per feature
    unet_attention_levels: int = 1  # cross-attention on this many of the coarsest levels (+ the mid block)
    unet_layers_per_block: int = 1
    unet_heads: int = 8  # attention heads at each cross-attention level
    text_hidden: int = 64  # the text encoder's width and depth
    text_layers: int = 2
    # > 0: first train the text encoder alone to state each object's (colour, shape) at its shape word, the
    # background, the pairs and the count (text_pretrain.py), as real models start from a pretrained encoder;
    # ~30 s, and it lifted caption match
    text_pretrain_steps: int = 400
    # > 0: REPA-style dense loss, the UNet's mid block predicts the scene graph per cell (scene_aux.py); the
    # head is training-only. It doubled caption match at 2,000 steps; 0.5 was worse than 0.1
    scene_aux_weight: float = 0.1
    # per-sample weight of that loss: "1-t" (nothing to read at pure noise) or "none"; "1-t" measured better
    scene_aux_t_weighting: str = "1-t"

    def cache_key(self) -> dict:
        """The config as the cache hashes it: options added after a release are left out while they hold
        their neutral default, and the retired options are put back at their fixed values (RETIRED), so
        upgrading the harness does not throw away a trained teacher."""
        out = asdict(self)
        for name, neutral in ADDED_OPTIONS.items():
            value = out.get(name)
            if (tuple(value) if isinstance(value, list) else value) == neutral:
                out.pop(name)
        return {**out, **RETIRED}

    @property
    def feature_grid(self) -> int:
        """Side of the features the scene loss reads: the UNet's mid block."""
        return self.resolution // 2 ** (len(self.unet_channels) - 1)

    def validate(self) -> None:
        self._validate_training()
        self._validate_unet()
        if not self.scene_aux_weight >= 0:
            raise ValueError(f"TeacherConfig.scene_aux_weight must be >= 0, got {self.scene_aux_weight!r}")
        if self.scene_aux_weight > 0 and self.feature_grid < GRID:
            raise ValueError(f"TeacherConfig.scene_aux_weight needs the UNet's mid-level features on at least "
                             f"the {GRID}x{GRID} cell grid; this config gives {self.feature_grid}x{self.feature_grid} "
                             f"(a deeper model): set scene_aux_weight=0")
        if self.scene_aux_t_weighting not in ("1-t", "none"):
            raise ValueError(f"TeacherConfig.scene_aux_t_weighting must be '1-t' or 'none', "
                             f"got {self.scene_aux_t_weighting!r}")
        if not isinstance(self.text_pretrain_steps, int) or self.text_pretrain_steps < 0:
            raise ValueError(f"TeacherConfig.text_pretrain_steps must be an int >= 0, got {self.text_pretrain_steps!r}")

    def _validate_training(self) -> None:
        w = self.object_count_weights
        n_counts = self.max_objects - self.min_objects + 1
        if len(w) and (len(w) != n_counts or any(not isinstance(x, (int, float)) or x < 0 for x in w) or not sum(w)):
            raise ValueError(f"TeacherConfig.object_count_weights must be () (uniform) or {n_counts} weights >= 0, "
                             f"not all 0, one per object count {self.min_objects}..{self.max_objects}; got {tuple(w)!r}")
        if self.resolution < 8:
            raise ValueError(f"TeacherConfig.resolution must be >= 8, got {self.resolution}")
        for f in ("steps", "batch_size"):
            if not isinstance(getattr(self, f), int) or getattr(self, f) < 1:
                raise ValueError(f"TeacherConfig.{f} must be a positive int, got {getattr(self, f)!r}")
        if self.timestep_sampling not in TIMESTEP_SCHEMES:
            raise ValueError(f"TeacherConfig.timestep_sampling must be one of {TIMESTEP_SCHEMES}, "
                             f"got {self.timestep_sampling!r}")
        if not 0.0 <= self.caption_dropout < 1.0:
            raise ValueError(f"TeacherConfig.caption_dropout must be in [0, 1), got {self.caption_dropout}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TeacherConfig.ema_decay must be in [0, 1), got {self.ema_decay}")

    def _validate_unet(self) -> None:
        if not self.unet_channels or any(not isinstance(c, int) or c < 1 for c in self.unet_channels):
            raise ValueError(f"TeacherConfig.unet_channels must be positive channel counts, got {self.unet_channels!r}")
        if not 0 <= self.unet_attention_levels <= len(self.unet_channels):
            raise ValueError(f"TeacherConfig.unet_attention_levels must be in [0, len(unet_channels)="
                             f"{len(self.unet_channels)}], got {self.unet_attention_levels}")
        attn = self.unet_channels[len(self.unet_channels) - self.unet_attention_levels:]
        if not isinstance(self.unet_heads, int) or self.unet_heads < 1 or any(c % self.unet_heads for c in attn):
            raise ValueError(f"TeacherConfig.unet_heads must be a positive int dividing the channels of every "
                             f"cross-attention level {tuple(attn)}, got {self.unet_heads!r}")
        if self.resolution % 2 ** (len(self.unet_channels) - 1):
            raise ValueError(f"TeacherConfig.unet_channels: the side {self.resolution} must be divisible by "
                             f"{2 ** (len(self.unet_channels) - 1)} (one halving per extra level)")
