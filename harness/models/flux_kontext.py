"""Generator family ``flux_kontext`` (FLUX.1-Kontext-dev), the diffusers parts called directly.

Loaded from a local folder in the official pipeline layout (``FluxKontextPipeline.from_pretrained``, no
download, no remote code); the pipeline object is kept only for its prompt encoder and its static packing
helpers, never for ``__call__`` in training. What a denoising step of the pipeline computes
(pipeline_flux_kontext.py), the velocity here computes too, on unpacked latents ``[B, 16, h, w]``:
- target and reference packed into 2x2 tokens, concatenated on the sequence; the reference's position ids
  have index 0 set to 1; the output is sliced back to the target tokens;
- ``timestep = sigma`` (the transformer scales by 1000), guidance embedding ``guidance``;
- T5 token embeddings + CLIP pooled embedding; latents ``(z - shift) * scale`` with the VAE's mode;
- ``sigmas``: the scheduler's own schedule, with its dynamic shift exp(mu) from the target token count
  (harness/models/schedule.py), the one the pipeline walks.

Roles on one base (harness/models/lora.py): ``initial_editor()`` = base + fresh ``gen`` adapter,
``auxiliary()`` = base + fresh ``aux`` adapter (text-to-image), ``teacher()`` = base with adapters off and
no reference tokens, ``reference(editor)`` = base with adapters off, with reference tokens.
``generator.lora_rank=0``: full fine-tuning on separate copies (small models only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from harness.models import schedule
from harness.models.adapter_roles import (
    EXPORT_NOTE,
    AdapterEditModel,
    AdapterFamily,
    torch_dtype,
)
from harness.models.lora import SharedBase

# flow_grpo train_flux_kontext.py's targets (reference §2), proj_mlp included
DEFAULT_TARGETS = ["attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj", "attn.add_k_proj",
                   "attn.add_v_proj", "attn.to_add_out", "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj",
                   "ff_context.net.2", "proj_mlp"]
DEFAULT_GUIDANCE = 2.5  # peers' Kontext guidance (flow_grpo, Flow-Factory); the pipeline's default is 3.5
__all__ = ["EXPORT_NOTE", "FluxKontextGenerator", "KontextEditModel", "torch_dtype"]


class KontextEditModel(AdapterEditModel):
    """One role on the family's parts (harness/models/adapter_roles.py: modes, checkpoints, export)."""

    def __init__(self, family: FluxKontextGenerator, transformer: torch.nn.Module, mode: str,
                 adapter: str | None = None, accepts_ref: bool = True):
        super().__init__(family, transformer, mode, adapter, accepts_ref)
        self.vae = family.pipe.vae
        self.text_encoder, self.text_encoder_2 = family.pipe.text_encoder, family.pipe.text_encoder_2

    @property
    def channels(self) -> int:
        return int(self.vae.config.latent_channels)

    def sigmas(self, steps: int, shape) -> torch.Tensor:
        """The sigmas the family's pipeline walks in ``steps`` steps (its scheduler's own shift and stretch)."""
        return schedule.pipeline_sigmas(dict(self.family.pipe.scheduler.config), steps, shape)

    # ------------------------------------------------------------------ encoders
    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        embeds, pooled, _ = self.family.pipe.encode_prompt(
            list(prompts), prompt_2=None, device=self.device, max_sequence_length=self.family.cfg.max_sequence_length)
        return embeds.to(self.dtype), pooled.to(self.dtype)

    def _text(self, text, batch: int):
        if isinstance(text, str):
            raise TypeError("text must be a list of prompts or an (embeds, pooled) tuple, got a str")
        embeds, pooled = text if isinstance(text, tuple) else self.encode_text(text)
        if embeds.shape[0] != batch:
            raise ValueError(f"text batch {embeds.shape[0]} does not match x_t batch {batch}")
        return embeds, pooled

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> normalised latents [B, 16, H/8, W/8] (the posterior mode, as the pipeline)."""
        cfg = self.vae.config
        z = self.vae.encode(pixels.to(self.device, self.vae.dtype) * 2 - 1).latent_dist.mode()
        return ((z - cfg.shift_factor) * cfg.scaling_factor).float()

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable: latents -> images in [0, 1]."""
        cfg = self.vae.config
        image = self.vae.decode(x.to(self.vae.dtype) / cfg.scaling_factor + cfg.shift_factor).sample
        return ((image.float() + 1) / 2).clamp(0, 1)

    # ------------------------------------------------------------------ velocity
    def _velocity(self, x_t, t, text, ref):
        pipe, dtype, device = self.family.pipe, self.dtype, x_t.device
        b, c, h, w = x_t.shape
        embeds, pooled = self._text(text, b)
        hidden = pipe._pack_latents(x_t.to(dtype), b, c, h, w)
        n = hidden.shape[1]
        ids = pipe._prepare_latent_image_ids(b, h // 2, w // 2, device, dtype)
        if ref is not None:
            rh, rw = ref.shape[-2:]
            hidden = torch.cat([hidden, pipe._pack_latents(ref.to(dtype), b, c, rh, rw)], dim=1)
            ref_ids = pipe._prepare_latent_image_ids(b, rh // 2, rw // 2, device, dtype)
            ref_ids[..., 0] = 1  # the reference's tokens: position-id index 1
            ids = torch.cat([ids, ref_ids], dim=0)
        t = self._timestep(t, b, device, dtype)
        guidance = None
        if self.transformer.config.guidance_embeds:
            guidance = torch.full((b,), self.family.guidance, device=device, dtype=torch.float32)
        txt_ids = torch.zeros(embeds.shape[1], 3, device=device, dtype=dtype)
        out = self.transformer(hidden_states=hidden, timestep=t, guidance=guidance, pooled_projections=pooled.to(dtype),
                               encoder_hidden_states=embeds.to(dtype), txt_ids=txt_ids, img_ids=ids,
                               return_dict=False)[0]
        vsf = pipe.vae_scale_factor
        return pipe._unpack_latents(out[:, :n], h * vsf, w * vsf, vsf).to(x_t.dtype)


class FluxKontextGenerator(AdapterFamily):
    """Registry generator ``flux_kontext``: ``generator=flux_kontext generator.path=DIR``."""

    name = "flux_kontext"
    role_class = KontextEditModel
    default_targets = DEFAULT_TARGETS

    def pipeline_class(self):
        from diffusers import FluxKontextPipeline

        return FluxKontextPipeline

    def transformer_class(self):
        from diffusers import FluxTransformer2DModel

        return FluxTransformer2DModel

    @classmethod
    def from_context(cls, ctx: Any) -> FluxKontextGenerator:
        return cls(ctx.cfg.run.generator, device=ctx.device)

    def __init__(self, cfg: Any, device: str | torch.device = "cpu", pipe: Any = None):
        """``pipe``: an already built FluxKontextPipeline (benchmarks/gpu_smoke.py); else loaded from ``cfg.path``."""
        from diffusers import FluxKontextPipeline

        self.cfg, self.dtype = cfg, torch_dtype(cfg.dtype)
        if pipe is None:
            root = Path(cfg.path).expanduser()
            if not (root / "model_index.json").is_file():
                raise FileNotFoundError(f"generator.path={cfg.path}: no model_index.json; expected a FLUX.1-Kontext "
                                        "folder in the official layout (transformer/, vae/, text_encoder(_2)/, "
                                        "tokenizer(_2)/)")
            pipe = FluxKontextPipeline.from_pretrained(str(root), dtype=self.dtype, local_files_only=True,
                                                       use_safetensors=True)
        self.pipe, self.transformer = pipe, pipe.transformer
        self.pipe.set_progress_bar_config(disable=True)
        for part in (self.pipe.transformer, self.pipe.vae, self.pipe.text_encoder, self.pipe.text_encoder_2):
            part.requires_grad_(False).eval().to(device)
        if cfg.gradient_checkpointing:
            self.pipe.transformer.enable_gradient_checkpointing()
            self.pipe.vae.enable_gradient_checkpointing()
        self.guidance = DEFAULT_GUIDANCE if cfg.guidance is None else float(cfg.guidance)
        self.base = SharedBase(self.pipe.transformer) if cfg.lora_rank > 0 else None
