"""EditModel: one generator backend over a diffusers denoiser (a transformer, or a conv UNet), for the
embedded tiny models and for real diffusers checkpoints alike (only the saved config differs).

Flow convention everywhere: ``x_t = (1 - t) x0 + t eps``, ``v = eps - x0``, t in [0, 1], t = 1 is noise.
``x`` lives in "model space": pixels mapped to [-1, 1], or VAE latents when a VAE is configured.

Reference (source image) conditioning:
- ``ref_mode="channel"``: the reference is concatenated to x_t along channels (packed features for
  Flux); the editor's input projection has twice the inputs and, when built ``from_teacher``, the
  new half is zero so the editor starts exactly as the teacher.
- ``ref_mode="token"``: Kontext-style, the reference is packed into extra image tokens appended to the
  sequence with position-id index 0 set to 1 (FluxTransformer2DModel only).
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    FluxTransformer2DModel,
    SD3Transformer2DModel,
    UNet2DConditionModel,
)

from harness.atomic_io import write_json
from harness.models.text_encoder import TextEncoder

# Only these diffusers classes are ever instantiated from a checkpoint (no remote code).
# The attribute is called `transformer` for all of them (the UNet too): it is the denoiser.
BACKBONES = {"SD3Transformer2DModel": SD3Transformer2DModel, "FluxTransformer2DModel": FluxTransformer2DModel,
             "UNet2DConditionModel": UNet2DConditionModel}
INPUT_PROJ = {"SD3Transformer2DModel": "pos_embed.proj", "FluxTransformer2DModel": "x_embedder",
              "UNet2DConditionModel": "conv_in"}
REF_MODES = ("channel", "token")
# What the transformer outputs: "velocity" (v = eps - x0, as real flow checkpoints) or "sample" (x0;
# v = (x_t - x0) / t, JiT-style x-prediction: a small pixel-space model spends no capacity on the noise).
PREDICTIONS = ("velocity", "sample")
X_PRED_T_MIN = 0.05  # clip of t in v = (x_t - x0) / t, as JiT does
CONFIG_NAME = "edit_model.json"

Text = "list[str] | tuple[torch.Tensor, torch.Tensor]"


class EditModel(torch.nn.Module):
    def __init__(self, transformer, text_encoder: TextEncoder, vae: AutoencoderKL | None = None,
                 ref_mode: str = "channel", train_text_encoder: bool = False, pack: int = 2,
                 guidance: float = 1.0, prediction: str = "velocity"):
        super().__init__()
        kind = type(transformer).__name__
        if kind not in BACKBONES:
            raise ValueError(f"unsupported transformer {kind}; supported: {sorted(BACKBONES)}")
        if ref_mode not in REF_MODES:
            raise ValueError(f"ref_mode must be one of {REF_MODES}, got {ref_mode!r}")
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        if ref_mode == "token" and kind != "FluxTransformer2DModel":
            raise ValueError("ref_mode='token' needs a FluxTransformer2DModel (sequence concat with position ids); "
                             f"got {kind}: use ref_mode='channel'")
        self.kind = kind
        self.transformer = transformer
        self.text_encoder = text_encoder
        self.vae = vae
        self.ref_mode = ref_mode
        self.pack = int(pack) if kind == "FluxTransformer2DModel" else 1
        self.guidance = float(guidance)
        self.prediction = prediction
        self.train_text_encoder = bool(train_text_encoder)
        self.text_encoder.requires_grad_(self.train_text_encoder)
        if vae is not None:
            vae.requires_grad_(False)
            vae.eval()

    # ------------------------------------------------------------------ shapes
    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.transformer.parameters()).dtype

    @property
    def token_channels(self) -> int:
        """Channels the transformer predicts per position (packed for Flux)."""
        c = self.transformer.config
        return int(c.out_channels or c.in_channels)

    @property
    def channels(self) -> int:
        """Channels of x in model space (3 for pixels, latent channels with a VAE)."""
        return self.token_channels // (self.pack * self.pack)

    @property
    def accepts_ref(self) -> bool:
        if self.ref_mode == "token":
            return True
        return int(self.transformer.config.in_channels) == 2 * self.token_channels

    # ------------------------------------------------------------------ encoders
    def encode_text(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, pooled = self.text_encoder(list(prompts))
        return tokens.to(self.dtype), pooled.to(self.dtype)

    def _text(self, text, batch: int):
        if isinstance(text, tuple):
            tokens, pooled = text
        else:
            if isinstance(text, str):
                raise TypeError("text must be a list of prompts or a (tokens, pooled) tuple, got a str")
            tokens, pooled = self.encode_text(text)
        if tokens.shape[0] != batch or pooled.shape[0] != batch:
            raise ValueError(f"text batch {tokens.shape[0]} does not match x_t batch {batch}")
        return tokens, pooled

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.to(self.device, self.dtype) * 2 - 1
        if self.vae is None:
            return x
        z = self.vae.encode(x).latent_dist.mode()
        cfg = self.vae.config
        return (z - (cfg.shift_factor or 0.0)) * cfg.scaling_factor

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        if self.vae is not None:
            cfg = self.vae.config
            x = self.vae.decode(x / cfg.scaling_factor + (cfg.shift_factor or 0.0)).sample
        return ((x + 1) / 2).clamp(0, 1)

    # ------------------------------------------------------------------ velocity
    @staticmethod
    def _t(t, batch: int, like: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
        return t.expand(batch) if t.ndim == 0 else t.reshape(batch)

    def _pack(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self.pack
        if h % p or w % p:
            raise ValueError(f"x of size {h}x{w} is not divisible by the Flux packing {p}")
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(b, (h // p) * (w // p), c * p * p)

    def _unpack(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, _, d = x.shape
        p = self.pack
        c = d // (p * p)
        x = x.reshape(b, h // p, w // p, c, p, p).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(b, c, h, w)

    def _ids(self, h: int, w: int, index: int, like: torch.Tensor) -> torch.Tensor:
        hp, wp = h // self.pack, w // self.pack
        ids = torch.zeros(hp, wp, 3, device=like.device, dtype=like.dtype)
        ids[..., 0] = index
        ids[..., 1] = torch.arange(hp, device=like.device, dtype=like.dtype)[:, None]
        ids[..., 2] = torch.arange(wp, device=like.device, dtype=like.dtype)[None, :]
        return ids.reshape(hp * wp, 3)

    def velocity(self, x_t: torch.Tensor, t, text, ref: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted v = eps - x0 at (x_t, t). ``ref=None``: text-to-image. For a channel-concat
        editor ``ref=None`` feeds zeros in the reference channels (exactly the teacher at init)."""
        out = self._transformer_out(x_t, t, text, ref)
        if self.prediction == "velocity":
            return out
        tb = self._t(t, x_t.shape[0], x_t).reshape(-1, *([1] * (x_t.ndim - 1)))
        return (x_t - out) / tb.clamp_min(X_PRED_T_MIN)

    def _transformer_out(self, x_t: torch.Tensor, t, text, ref: torch.Tensor | None) -> torch.Tensor:
        b, _, h, w = x_t.shape
        tokens, pooled = self._text(text, b)
        t = self._t(t, b, x_t)
        if ref is not None and not self.accepts_ref:
            raise ValueError("this model has no reference input (a text-to-image teacher); "
                             "build an editor with EditModel.from_teacher(teacher, ref_mode)")
        if ref is not None and ref.shape != x_t.shape:
            raise ValueError(f"ref shape {tuple(ref.shape)} must equal x_t shape {tuple(x_t.shape)}")
        channel_ref = self.ref_mode == "channel" and self.accepts_ref
        if channel_ref and ref is None:
            ref = torch.zeros_like(x_t)

        if self.kind == "SD3Transformer2DModel":
            hs = torch.cat([x_t, ref], 1) if channel_ref else x_t
            return self.transformer(hidden_states=hs, encoder_hidden_states=tokens, pooled_projections=pooled,
                                    timestep=t * 1000, return_dict=False)[0]
        if self.kind == "UNet2DConditionModel":
            hs = torch.cat([x_t, ref], 1) if channel_ref else x_t
            # the pooled caption goes in through the class embedding when the UNet has one (SDXL-style)
            labels = pooled if self.transformer.config.class_embed_type == "projection" else None
            return self.transformer(hs, t * 1000, encoder_hidden_states=tokens, class_labels=labels,
                                    return_dict=False)[0]

        # Flux: packed tokens, rotary position ids; Flux scales the timestep by 1000 itself.
        hs = self._pack(x_t)
        n = hs.shape[1]
        ids = self._ids(h, w, 0, x_t)
        if channel_ref:
            hs = torch.cat([hs, self._pack(ref)], -1)
        elif ref is not None:
            hs = torch.cat([hs, self._pack(ref)], 1)
            ids = torch.cat([ids, self._ids(h, w, 1, x_t)], 0)
        txt_ids = torch.zeros(tokens.shape[1], 3, device=x_t.device, dtype=x_t.dtype)
        guidance = None
        if self.transformer.config.guidance_embeds:
            guidance = torch.full((b,), self.guidance, device=x_t.device, dtype=x_t.dtype)
        out = self.transformer(hidden_states=hs, encoder_hidden_states=tokens, pooled_projections=pooled,
                               timestep=t, img_ids=ids, txt_ids=txt_ids, guidance=guidance, return_dict=False)[0]
        return self._unpack(out[:, :n], h, w)

    def forward(self, x_t: torch.Tensor, t, text, ref: torch.Tensor | None = None) -> torch.Tensor:
        """= velocity; DDP and DeepSpeed hook ``forward``, so trained copies are called this way."""
        return self.velocity(x_t, t, text, ref=ref)

    def velocity_cfg(self, x_t: torch.Tensor, t, text, scale: float, ref: torch.Tensor | None = None,
                     negative="") -> torch.Tensor:
        """Classifier-free guidance; the unconditional branch is the ``negative`` prompt (default empty),
        with the same reference (text guidance only). One batched forward for both branches."""
        if scale == 1.0:
            return self.velocity(x_t, t, text, ref=ref)
        b = x_t.shape[0]
        cond = self._text(text, b)
        uncond = negative if isinstance(negative, tuple) else self.encode_text([negative] * b)
        both = (torch.cat([cond[0], uncond[0]]), torch.cat([cond[1], uncond[1]]))
        t = self._t(t, b, x_t)
        v = self.velocity(torch.cat([x_t, x_t]), torch.cat([t, t]), both,
                          ref=None if ref is None else torch.cat([ref, ref]))
        v_c, v_u = v.chunk(2)
        return v_u + scale * (v_c - v_u)

    # ------------------------------------------------------------------ training
    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        params = list(self.transformer.parameters())
        if self.train_text_encoder:
            params += list(self.text_encoder.parameters())
        return params

    def config_dict(self) -> dict:
        return {"backbone": self.kind, "ref_mode": self.ref_mode, "pack": self.pack, "guidance": self.guidance,
                "prediction": self.prediction,
                "train_text_encoder": self.train_text_encoder, "has_vae": self.vae is not None,
                "accepts_ref": self.accepts_ref}

    # ------------------------------------------------------------------ save / load
    def save_pretrained(self, root: str | Path) -> Path:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        self.transformer.save_pretrained(root / "transformer", safe_serialization=True)
        self.text_encoder.save_pretrained(root)
        if self.vae is not None:
            self.vae.save_pretrained(root / "vae", safe_serialization=True)
        write_json(root / CONFIG_NAME, self.config_dict())
        return root

    @classmethod
    def from_pretrained(cls, root: str | Path, **overrides) -> EditModel:
        root = Path(root)
        tdir = root / "transformer"
        if not (tdir / "config.json").exists():
            raise FileNotFoundError(f"{tdir}/config.json not found: {root} is not an EditModel checkpoint "
                                    "(expected transformer/, text_encoder/, tokenizer/ and optional vae/)")
        kind = json.loads((tdir / "config.json").read_text()).get("_class_name")
        if kind not in BACKBONES:
            raise ValueError(f"{tdir}: unsupported transformer class {kind!r}; supported: {sorted(BACKBONES)}")
        cfg_path = root / CONFIG_NAME
        cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
        cfg.update(overrides)
        transformer = BACKBONES[kind].from_pretrained(root, subfolder="transformer", use_safetensors=True)
        text_encoder = TextEncoder.from_pretrained(root)
        vae = None
        if (root / "vae" / "config.json").exists():
            vae = AutoencoderKL.from_pretrained(root, subfolder="vae", use_safetensors=True)
        default_mode = "token" if kind == "FluxTransformer2DModel" else "channel"
        return cls(transformer, text_encoder, vae, ref_mode=cfg.get("ref_mode", default_mode),
                   train_text_encoder=cfg.get("train_text_encoder", False), pack=cfg.get("pack", 2),
                   guidance=cfg.get("guidance", 1.0), prediction=cfg.get("prediction", "velocity"))

    # ------------------------------------------------------------------ builders
    @classmethod
    def tiny_sd3(cls, resolution: int = 32, patch_size: int = 2, channels: int = 3, num_layers: int = 4,
                 num_heads: int = 4, head_dim: int = 32, caption_projection_dim: int = 128,
                 text_hidden: int = 64, text_layers: int = 2, text_heads: int = 4,
                 train_text_encoder: bool = True, vae: AutoencoderKL | None = None,
                 prediction: str = "velocity") -> EditModel:
        """The embedded text-to-image backbone (feasibility §3 config, ~2.3 M params at the defaults)."""
        transformer = SD3Transformer2DModel(
            sample_size=resolution, patch_size=patch_size, in_channels=channels, out_channels=channels,
            num_layers=num_layers, attention_head_dim=head_dim, num_attention_heads=num_heads,
            joint_attention_dim=text_hidden, caption_projection_dim=caption_projection_dim,
            pooled_projection_dim=text_hidden, pos_embed_max_size=resolution // patch_size,
        )
        te = TextEncoder.build(hidden_size=text_hidden, num_layers=text_layers, num_heads=text_heads)
        return cls(transformer, te, vae, ref_mode="channel", train_text_encoder=train_text_encoder,
                   prediction=prediction)

    @classmethod
    def tiny_unet(cls, resolution: int = 32, channels: int = 3, block_channels: tuple[int, ...] = (16, 32, 64),
                  attention_levels: int = 1, layers_per_block: int = 1, heads: int = 8, text_hidden: int = 64,
                  text_layers: int = 2, text_heads: int = 4, train_text_encoder: bool = True,
                  vae: AutoencoderKL | None = None, prediction: str = "velocity") -> EditModel:
        """A conv UNet backbone (cross-attention to the caption on the ``attention_levels`` coarsest levels,
        the pooled caption added to the time embedding). Convolutions draw locally coherent shapes, which a
        patch DiT learns slowly at this budget (docs/embedded_models.md)."""
        n = len(block_channels)
        if not 0 <= attention_levels <= n:
            raise ValueError(f"attention_levels must be in [0, {n}] (len(block_channels)), got {attention_levels}")
        if any(c % heads for c in block_channels[n - attention_levels:]):
            raise ValueError(f"heads ({heads}) must divide the channels of every cross-attention level "
                             f"{tuple(block_channels[n - attention_levels:])}")
        down = tuple("CrossAttnDownBlock2D" if i >= n - attention_levels else "DownBlock2D" for i in range(n))
        up = tuple("CrossAttnUpBlock2D" if i < attention_levels else "UpBlock2D" for i in range(n))
        groups = math.gcd(8, *block_channels)  # GroupNorm groups must divide every level's channels
        transformer = UNet2DConditionModel(
            sample_size=resolution, in_channels=channels, out_channels=channels, block_out_channels=tuple(block_channels),
            layers_per_block=layers_per_block, down_block_types=down, up_block_types=up,
            mid_block_type="UNetMidBlock2DCrossAttn" if attention_levels else "UNetMidBlock2D",
            # diffusers' UNet reads `attention_head_dim` as the number of heads (a legacy name, kept for old configs)
            cross_attention_dim=text_hidden, attention_head_dim=heads, norm_num_groups=groups,
            class_embed_type="projection", projection_class_embeddings_input_dim=text_hidden,
        )
        te = TextEncoder.build(hidden_size=text_hidden, num_layers=text_layers, num_heads=text_heads)
        return cls(transformer, te, vae, ref_mode="channel", train_text_encoder=train_text_encoder,
                   prediction=prediction)

    @classmethod
    def from_teacher(cls, teacher: EditModel, ref_mode: str = "channel") -> EditModel:
        """An editor initialised from a text-to-image teacher; its text encoder (and VAE) are frozen copies."""
        if teacher.accepts_ref and teacher.ref_mode == "channel":
            raise ValueError("from_teacher needs a text-to-image model; this one already takes a reference")
        src = teacher.transformer
        if ref_mode == "channel":
            cfg = dict(src.config)
            c_in = int(cfg["in_channels"])
            cfg["out_channels"] = int(cfg.get("out_channels") or c_in)
            cfg["in_channels"] = 2 * c_in
            transformer = type(src).from_config(cfg)
            state = src.state_dict()
            key = INPUT_PROJ[teacher.kind] + ".weight"
            w = state[key]
            new_w = torch.zeros(w.shape[0], 2 * c_in, *w.shape[2:], dtype=w.dtype)
            new_w[:, :c_in] = w  # reference inputs start at zero: editor == teacher at init
            state[key] = new_w
            transformer.load_state_dict(state, strict=True)
            if teacher.device != transformer.device or teacher.dtype != transformer.dtype:
                transformer.to(device=teacher.device, dtype=teacher.dtype)
        elif ref_mode == "token":
            transformer = copy.deepcopy(src)
        else:
            raise ValueError(f"ref_mode must be one of {REF_MODES}, got {ref_mode!r}")
        return cls(transformer, copy.deepcopy(teacher.text_encoder), copy.deepcopy(teacher.vae), ref_mode=ref_mode,
                   train_text_encoder=False, pack=teacher.pack, guidance=teacher.guidance,
                   prediction=teacher.prediction)


def build_tiny_latent_model(root: str | Path, resolution: int = 32, seed: int = 0) -> Path:
    """Write a TINY random FLUX (token concat) + AutoencoderKL checkpoint laid out like a real one
    (transformer/, vae/, text_encoder/, tokenizer/, edit_model.json). Used by the latent contract test."""
    root = Path(root)
    torch.manual_seed(seed)
    latent_channels, pack = 4, 2
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
                        latent_channels=latent_channels, norm_num_groups=4, sample_size=resolution)
    te = TextEncoder.build(hidden_size=32, num_layers=1, num_heads=2)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=latent_channels * pack * pack, num_layers=1, num_single_layers=1,
        attention_head_dim=16, num_attention_heads=2, joint_attention_dim=te.hidden_size,
        pooled_projection_dim=te.hidden_size, axes_dims_rope=(4, 6, 6),
    )
    transformer.save_pretrained(root / "transformer", safe_serialization=True)
    vae.save_pretrained(root / "vae", safe_serialization=True)
    te.save_pretrained(root)
    write_json(root / CONFIG_NAME, {"ref_mode": "token", "pack": pack, "train_text_encoder": False})
    return root
