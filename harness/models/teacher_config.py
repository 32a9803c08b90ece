"""The embedded teacher's config, apart from its training code so that the CLI imports it cheaply."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from harness.world.scene import GRID

TIMESTEP_SCHEMES = ("logit_normal", "uniform", "mode")
BACKBONES = ("sd3", "unet")
# Options added after teachers were first cached, with the value that reproduces the older training
# exactly; at that value they do not enter the cache key (TeacherConfig.cache_key).
ADDED_OPTIONS = {"posterior_target": False, "text_pretrain_steps": 0,
                 "scene_aux_weight": 0.0, "scene_aux_t_weighting": "1-t",
                 "attn_ground_weight": 0.0, "attn_ground_t_weighting": "1-t", "layout_aux_weight": 0.0,
                 "object_count_weights": ()}


@dataclass
class TeacherConfig:
    resolution: int = 32
    # Defaults: the conv UNet with a pretrained text encoder and the dense scene loss (run U_tpsa in
    # docs/embedded_models_sweeps.md, caption match 0.47 at 2000 steps against 0.01 for the old DiT default).
    # The teacher is short of steps, not of samples: at equal time (one thread, ~11 min while the judge trains
    # on the other core) 4000 steps of batch 8 give `probe teacher` realism 0.74 against 0.59 for 2000 steps of
    # batch 16, at the same caption match (0.49 / 0.50; runs U_hb and U_tpsa). 4000 steps of batch 16 reach match
    # 0.59 and realism 0.86, but in twice the time, which the 15-minute `prepare` does not have.
    # 4400 steps: the time the fused AdamW and the vectorised scene sampling saved (~690 s of training on one
    # thread, run U_4400: `probe teacher` match 0.58, realism 0.82 at its CFG 2).
    # 13200 steps (three times that, ~60 min on one AVX2 core): `probe teacher` match 0.79, realism 0.98 against
    # 0.59 / 0.85 at 4400 (run T_long3x, session 11). Too long to wait for on a first run, so the teacher this
    # default builds ships with the package (harness/pretrained/teacher/) and `prepare --force` rebuilds it.
    # 17600 steps (T_4x, session 12): 0.797 / 0.981, fresh captions 0.77 against 0.745: the curve flattens near
    # 0.8 (three-object captions stay at ~0.55), so a third longer rebuild was not worth a new shipped copy.
    # Batch 16 (T_b16, session 13): 13200 steps give 0.891 / 0.989, where batch 8 flattened near 0.8 however
    # long it ran (up to 1.5x the samples); the same samples in half the steps (6600 of batch 16) give 0.789,
    # as batch 8 did. ~110 min of one core here, so it ships too.
    # (The DiT, backbone=sd3: ~0.20 s/step at batch 16, lr 3e-3, 3400 steps.)
    steps: int = 13200
    batch_size: int = 16
    lr: float = 1e-3  # the UNet: 3e-3 diverged in quality (U_lr3e3: match 0.01 vs 0.11 at 1e-3)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05  # cosine decay to lr * this at the end
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    caption_dropout: float = 0.1  # empty prompt, for CFG at sampling time
    timestep_sampling: str = "logit_normal"
    # logit-normal(0, 1): the UNet did better unshifted (U_ln0: match 0.15 vs 0.11). The DiT wanted (1.0, 1.2),
    # shifted toward noise (at 850 steps background 0.75 -> 0.97, explained 0.64 -> 0.83)
    logit_mean: float = 0.0
    logit_std: float = 1.0
    mode_scale: float = 1.29
    ema_decay: float = 0.995  # 0 disables; the saved teacher is the EMA
    seed: int = 0
    min_objects: int = 1
    max_objects: int = 3
    # relative frequency of each object count min_objects..max_objects in the training scenes; () draws the
    # count uniformly. More crowded scenes: more objects and more colour-shape bindings per step. Measured
    # against uniform (384 fresh captions, 128 per count, CFG 2): match 0.80 / 0.49 / 0.23 -> 0.77 / 0.54 /
    # 0.29 for 1 / 2 / 3 objects, realism 0.81 -> 0.86 (run T_cw123, docs/embedded_models_sweeps.md)
    object_count_weights: tuple[float, ...] = (1.0, 2.0, 3.0)
    # architecture: "sd3" (a patch DiT, SD3Transformer2DModel) or "unet" (UNet2DConditionModel)
    backbone: str = "unet"
    unet_channels: tuple[int, ...] = (16, 32, 64)
    unet_attention_levels: int = 1  # cross-attention on this many of the coarsest levels (+ the mid block)
    unet_layers_per_block: int = 1
    unet_heads: int = 8  # attention heads at each cross-attention level
    patch_size: int = 4  # 64 tokens: ~3x cheaper per step than patch 2 and lower loss at equal wall time
    num_layers: int = 4
    num_heads: int = 4
    head_dim: int = 32
    caption_projection_dim: int = 128
    text_hidden: int = 64
    text_layers: int = 2
    # text_pretrain_steps > 0: first train the text encoder alone to state each object's (colour, shape) at its
    # shape word, the background, the set of pairs and the count (harness/models/text_pretrain.py), as real
    # text-to-image models start from a pretrained text encoder (it keeps training with the denoiser after)
    text_pretrain_steps: int = 400  # ~30 s; U_ln0 match 0.15 -> 0.22 (U_tp)
    # DiT adaLN-Zero: zero the modulation linears (gates start at 0, every block starts as identity) and
    # the output projection; diffusers' SD3 init leaves them random, which slows a short run
    zero_init: bool = True
    # posterior_target: regress on the exact E[x0 | x_t, caption's scene structure] (harness/world/posterior.py)
    # instead of the one-sample target eps - x0: the same minimiser with far less gradient noise
    # (captioned samples only; a dropped caption keeps the one-sample target). Pixel space only.
    posterior_target: bool = False
    # scene_aux_weight > 0: REPA-style dense auxiliary loss, the mid-level features predict the scene graph
    # per cell (harness/models/scene_aux.py); the head is training-only
    scene_aux_weight: float = 0.1  # U_tp 0.22 -> 0.47 (U_tpsa); 0.5: 0.42; unweighted in t: 0.34
    scene_aux_t_weighting: str = "1-t"  # per-sample weight of that loss: "1-t" or "none" (also at pure noise)
    # attn_ground_weight > 0: TokenCompose-style grounding of the UNet's cross-attention, each object's shape
    # word must attend to that object's pixels and the background word to the rest
    # (harness/models/attn_ground.py); training-only, UNet only. Measured at 0.1: match 0.48 vs 0.47 at 2000 steps
    # (U_ag1 vs U_tpsa), within the seed spread, so off
    attn_ground_weight: float = 0.0
    attn_ground_t_weighting: str = "1-t"  # "1-t" or "none", as scene_aux_t_weighting
    # layout_aux_weight > 0: the mid-level features must give, per caption object, its exact posterior
    # over the 8x8 cells given x_t (harness/models/layout_aux.py): one object, one place, at the noise
    # levels where the layout is decided. Training-only; pixel space.
    layout_aux_weight: float = 0.0
    prediction: str = "velocity"  # or "sample" (x0-prediction, v = (x_t - x0) / t; see EditModel)
    # latent_channels > 0: train a tiny AutoencoderKL first (vae_*) and run the DiT on its latents
    # (downsampling 2**(len(vae_blocks)-1); with 3 blocks an 8x8 latent = one latent pixel per world cell)
    latent_channels: int = 0
    vae_blocks: tuple[int, ...] = (32, 64, 64)
    vae_steps: int = 1500
    vae_batch: int = 32
    vae_lr: float = 2e-3
    vae_kl_weight: float = 1e-6

    def cache_key(self) -> dict:
        """The config as the cache hashes it: options added after a release are left out while they hold
        their neutral default, so upgrading the harness does not throw away a trained teacher."""
        out = asdict(self)
        for name, neutral in ADDED_OPTIONS.items():
            value = out.get(name)
            if (tuple(value) if isinstance(value, list) else value) == neutral:
                out.pop(name)
        return out

    @property
    def model_resolution(self) -> int:
        """Side of x in model space: pixels, or the VAE's latent grid."""
        return self.resolution // 2 ** (len(self.vae_blocks) - 1) if self.latent_channels else self.resolution

    @property
    def feature_grid(self) -> int:
        """Side of the features the scene loss reads: the UNet's mid block, or the DiT's token grid."""
        if self.backbone == "unet":
            return self.model_resolution // 2 ** (len(self.unet_channels) - 1)
        return self.model_resolution // self.patch_size

    def validate(self) -> None:
        w = self.object_count_weights
        n_counts = self.max_objects - self.min_objects + 1
        if len(w) and (len(w) != n_counts or any(not isinstance(x, (int, float)) or x < 0 for x in w) or not sum(w)):
            raise ValueError(f"TeacherConfig.object_count_weights must be () (uniform) or {n_counts} weights >= 0, "
                             f"not all 0, one per object count {self.min_objects}..{self.max_objects}; got {tuple(w)!r}")
        if self.prediction not in ("velocity", "sample"):
            raise ValueError(f"TeacherConfig.prediction must be 'velocity' or 'sample', got {self.prediction!r}")
        if self.resolution < 8:
            raise ValueError(f"TeacherConfig.resolution must be >= 8, got {self.resolution}")
        if not isinstance(self.latent_channels, int) or self.latent_channels < 0:
            raise ValueError(f"TeacherConfig.latent_channels must be an int >= 0 (0: pixel space), "
                             f"got {self.latent_channels!r}")
        if self.latent_channels:
            if not self.vae_blocks or any(c < 1 for c in self.vae_blocks):
                raise ValueError(f"TeacherConfig.vae_blocks must be positive channel counts, got {self.vae_blocks!r}")
            if self.resolution % 2 ** (len(self.vae_blocks) - 1):
                raise ValueError(f"TeacherConfig.resolution {self.resolution} is not divisible by the VAE's "
                                 f"downsampling {2 ** (len(self.vae_blocks) - 1)} (len(vae_blocks) - 1 halvings)")
        if self.posterior_target and self.latent_channels:
            raise ValueError("TeacherConfig.posterior_target needs pixel space (latent_channels=0): the exact "
                             "posterior mean is computed on world images")
        if self.backbone not in BACKBONES:
            raise ValueError(f"TeacherConfig.backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.backbone == "unet":
            if not self.unet_channels or any(not isinstance(c, int) or c < 1 for c in self.unet_channels):
                raise ValueError(f"TeacherConfig.unet_channels must be positive channel counts, "
                                 f"got {self.unet_channels!r}")
            if not 0 <= self.unet_attention_levels <= len(self.unet_channels):
                raise ValueError(f"TeacherConfig.unet_attention_levels must be in [0, len(unet_channels)="
                                 f"{len(self.unet_channels)}], got {self.unet_attention_levels}")
            attn = self.unet_channels[len(self.unet_channels) - self.unet_attention_levels:]
            if not isinstance(self.unet_heads, int) or self.unet_heads < 1 or any(c % self.unet_heads for c in attn):
                raise ValueError(f"TeacherConfig.unet_heads must be a positive int dividing the channels of every "
                                 f"cross-attention level {tuple(attn)}, got {self.unet_heads!r}")
            if self.model_resolution % 2 ** (len(self.unet_channels) - 1):
                raise ValueError(f"TeacherConfig.unet_channels: the model-space side {self.model_resolution} must "
                                 f"be divisible by {2 ** (len(self.unet_channels) - 1)} (one halving per extra level)")
        elif self.model_resolution % (self.patch_size * 2):
            raise ValueError(f"TeacherConfig.patch_size: the model-space side {self.model_resolution} must be a "
                             f"multiple of 2*patch_size ({2 * self.patch_size})")
        if not self.scene_aux_weight >= 0:
            raise ValueError(f"TeacherConfig.scene_aux_weight must be >= 0, got {self.scene_aux_weight!r}")
        if self.scene_aux_weight > 0 and self.feature_grid < GRID:
            raise ValueError(f"TeacherConfig.scene_aux_weight needs the denoiser's mid-level features on at least "
                             f"the {GRID}x{GRID} cell grid; this config gives {self.feature_grid}x{self.feature_grid} "
                             f"(a latent or deeper model): set scene_aux_weight=0")
        if self.scene_aux_t_weighting not in ("1-t", "none"):
            raise ValueError(f"TeacherConfig.scene_aux_t_weighting must be '1-t' or 'none', "
                             f"got {self.scene_aux_t_weighting!r}")
        if not self.layout_aux_weight >= 0:
            raise ValueError(f"TeacherConfig.layout_aux_weight must be >= 0, got {self.layout_aux_weight!r}")
        if self.layout_aux_weight > 0 and (self.latent_channels or self.feature_grid < GRID):
            raise ValueError(f"TeacherConfig.layout_aux_weight needs pixel space (latent_channels=0) and mid-level "
                             f"features on at least the {GRID}x{GRID} cell grid (this config: {self.feature_grid}x"
                             f"{self.feature_grid}): set layout_aux_weight=0")
        if not self.attn_ground_weight >= 0:
            raise ValueError(f"TeacherConfig.attn_ground_weight must be >= 0, got {self.attn_ground_weight!r}")
        if self.attn_ground_weight > 0 and (self.backbone != "unet" or self.unet_attention_levels < 1):
            raise ValueError("TeacherConfig.attn_ground_weight needs the UNet's cross-attention layers "
                             "(backbone=unet, unet_attention_levels >= 1): set attn_ground_weight=0")
        if self.attn_ground_t_weighting not in ("1-t", "none"):
            raise ValueError(f"TeacherConfig.attn_ground_t_weighting must be '1-t' or 'none', "
                             f"got {self.attn_ground_t_weighting!r}")
        if not isinstance(self.text_pretrain_steps, int) or self.text_pretrain_steps < 0:
            raise ValueError(f"TeacherConfig.text_pretrain_steps must be an int >= 0, got {self.text_pretrain_steps!r}")
        for f in ("steps", "batch_size"):
            if not isinstance(getattr(self, f), int) or getattr(self, f) < 1:
                raise ValueError(f"TeacherConfig.{f} must be a positive int, got {getattr(self, f)!r}")
        if self.timestep_sampling not in TIMESTEP_SCHEMES:
            raise ValueError(f"TeacherConfig.timestep_sampling must be one of {TIMESTEP_SCHEMES}, "
                             f"got {self.timestep_sampling!r}")
        if not 0.0 <= self.caption_dropout < 1.0:
            raise ValueError(f"TeacherConfig.caption_dropout must be in [0, 1), got {self.caption_dropout}")
        if self.backbone == "sd3" and self.caption_projection_dim != self.num_heads * self.head_dim:
            raise ValueError(f"TeacherConfig.caption_projection_dim ({self.caption_projection_dim}) must equal "
                             f"num_heads * head_dim ({self.num_heads * self.head_dim}): SD3 blocks share that width")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TeacherConfig.ema_decay must be in [0, 1), got {self.ema_decay}")
