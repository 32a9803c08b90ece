"""Generator family ``qwen_image_edit`` (Qwen-Image-Edit, -2509, -2511), the diffusers parts called directly.

Loaded by subfolder from a local folder in the official pipeline layout (model_index.json, transformer/,
vae/, text_encoder/, tokenizer/, processor/, scheduler/; no download, no remote code, no pipeline object:
the pipeline's processor needs torchvision). ``model_index.json``'s ``_class_name`` picks the variant:
``QwenImageEditPipeline`` (Edit) or ``QwenImageEditPlusPipeline`` (2509 / 2511, "Picture 1:" template, the
condition image at a 384^2 area); ``zero_cond_t`` (2511) is read from the transformer config and checked
to have survived loading. What a denoising step of the pipeline computes, the velocity here computes too,
on unpacked latents ``[B, 16, h, w]`` (the VAE's 5-D ``[B, 16, 1, h, w]`` with the frame axis dropped):
- prompt conditioning from the Qwen2.5-VL text encoder that *sees the source image* (qwen_prompt.py);
- target and reference packed into 2x2 tokens and concatenated on the sequence, ``img_shapes`` =
  one (1, h/2, w/2) per segment drives the RoPE (and 2511's t = 0 modulation of the reference segment);
- ``timestep = sigma`` (the transformer scales by 1000), no guidance embedding;
- latents normalised per channel, ``(z - latents_mean) / latents_std``, the posterior mode;
- ``sigmas``: the scheduler's own schedule (exp(mu) from the target token count, and the ``shift_terminal``
  stretch of the real config, 0.02), the one the pipeline walks.

How the source image reaches the prompt encoding: ``encode_image`` returns ``SourceLatents``, the
normalised latents (a plain tensor to every op) that also hold the pixels they were encoded from; the
velocity encodes the prompts with ``ref.pixels`` (cached per prompts and source). ``encode_text(prompts)``
therefore cannot encode yet and returns the prompts; ``encode_text(prompts, ref=...)`` gives the
(embeds, mask) pair. The harness sizes images itself (``generator.resolution``): the pipeline's 1 MP
resize of the reference is not applied.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from harness.models import schedule
from harness.models.adapter_roles import AdapterEditModel, AdapterFamily, torch_dtype
from harness.models.lora import SharedBase
from harness.models.qwen_prompt import QwenPromptEncoder

# flow_grpo train_qwenimage_edit_plus.py's 12 targets (reference §2)
DEFAULT_TARGETS = ["attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj", "attn.add_k_proj",
                   "attn.add_v_proj", "attn.to_add_out", "img_mlp.net.0.proj", "img_mlp.net.2", "txt_mlp.net.0.proj",
                   "txt_mlp.net.2"]
VARIANTS = {"QwenImageEditPipeline": "edit", "QwenImageEditPlusPipeline": "plus"}
PROMPT_CACHE = 8  # (prompts, source) encodings kept: a rollout's steps and NP-Edit's teacher / aux prompts


class SourceLatents(torch.Tensor):
    """Normalised reference latents that remember the source pixels (``.pixels``, [B, 3, H, W] in [0, 1])
    the prompt encoder must see. Every torch op on it returns a plain tensor."""

    __torch_function__ = torch._C._disabled_torch_function_impl
    pixels: torch.Tensor

    @staticmethod
    def wrap(latents: torch.Tensor, pixels: torch.Tensor) -> SourceLatents:
        out = latents.as_subclass(SourceLatents)
        out.pixels = pixels
        return out


class QwenEditModel(AdapterEditModel):
    """One role on the family's parts (harness/models/adapter_roles.py: modes, checkpoints, export)."""

    def __init__(self, family: QwenImageEditGenerator, transformer: torch.nn.Module, mode: str,
                 adapter: str | None = None, accepts_ref: bool = True):
        super().__init__(family, transformer, mode, adapter, accepts_ref)
        self.vae, self.text_encoder = family.vae, family.text_encoder

    @property
    def channels(self) -> int:
        return int(self.vae.config.z_dim)

    def sigmas(self, steps: int, shape) -> torch.Tensor:
        """The sigmas the family's pipeline walks in ``steps`` steps (its scheduler's own shift and stretch)."""
        return schedule.pipeline_sigmas(self.family.scheduler_config, steps, shape)

    # ------------------------------------------------------------------ encoders
    def encode_text(self, prompts: list[str], ref: torch.Tensor | None = None):
        """With ``ref`` (this family's SourceLatents): the (embeds, mask) conditioning. Without: the prompts
        themselves, encoded by ``velocity`` once it knows the reference (the encoder must see the image)."""
        if ref is None:
            return list(prompts)
        return self.family.encode_prompts(list(prompts), self._pixels(ref))

    def _pixels(self, ref: torch.Tensor | None) -> torch.Tensor | None:
        if ref is None:
            return None
        pixels = getattr(ref, "pixels", None)
        if pixels is None:
            raise ValueError("qwen_image_edit needs the reference from its own encode_image (latents that carry "
                             "the source pixels the Qwen2.5-VL prompt encoder sees); got a plain tensor")
        return pixels

    def _text(self, text, batch: int, ref):
        if isinstance(text, str):
            raise TypeError("text must be a list of prompts or an (embeds, mask) tuple, got a str")
        embeds, mask = text if isinstance(text, tuple) else self.family.encode_prompts(list(text), self._pixels(ref))
        if embeds.shape[0] != batch:
            raise ValueError(f"text batch {embeds.shape[0]} does not match x_t batch {batch}")
        return embeds, mask

    @torch.no_grad()
    def encode_image(self, pixels: torch.Tensor) -> SourceLatents:
        """[B, 3, H, W] in [0, 1] -> normalised latents [B, 16, H/8, W/8] (the posterior mode, as the pipeline)."""
        pixels = pixels.to(self.device)
        z = self.vae.encode(pixels.to(self.vae.dtype).unsqueeze(2) * 2 - 1).latent_dist.mode()
        mean, std = self.family.latent_stats(z)
        return SourceLatents.wrap(((z - mean) / std)[:, :, 0].float(), pixels.float())

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable: latents -> images in [0, 1]."""
        z = x.to(self.vae.dtype).unsqueeze(2)
        mean, std = self.family.latent_stats(z)
        image = self.vae.decode(z * std + mean).sample[:, :, 0]
        return ((image.float() + 1) / 2).clamp(0, 1)

    # ------------------------------------------------------------------ velocity
    def _velocity(self, x_t, t, text, ref):
        from diffusers import QwenImageEditPipeline as P

        dtype, device = self.dtype, x_t.device
        b, c, h, w = x_t.shape
        embeds, mask = self._text(text, b, ref)
        hidden = P._pack_latents(x_t.to(dtype), b, c, h, w)
        n = hidden.shape[1]
        shapes = [(1, h // 2, w // 2)]
        if ref is not None:
            rh, rw = ref.shape[-2:]
            hidden = torch.cat([hidden, P._pack_latents(ref.to(dtype), b, c, rh, rw)], dim=1)
            shapes.append((1, rh // 2, rw // 2))
        out = self.transformer(hidden_states=hidden, timestep=self._timestep(t, b, device, dtype), guidance=None,
                               encoder_hidden_states=embeds.to(dtype), encoder_hidden_states_mask=mask,
                               img_shapes=[shapes] * b, return_dict=False)[0]
        vsf = self.family.vae_scale_factor
        return P._unpack_latents(out[:, :n], h * vsf, w * vsf, vsf)[:, :, 0].to(x_t.dtype)


class QwenImageEditGenerator(AdapterFamily):
    """Registry generator ``qwen_image_edit``: ``generator=qwen_image_edit generator.path=DIR``."""

    name = "qwen_image_edit"
    role_class = QwenEditModel
    default_targets = DEFAULT_TARGETS

    def pipeline_class(self):
        from diffusers import QwenImageEditPipeline, QwenImageEditPlusPipeline

        return QwenImageEditPlusPipeline if self.variant == "plus" else QwenImageEditPipeline

    def transformer_class(self):
        from diffusers import QwenImageTransformer2DModel

        return QwenImageTransformer2DModel

    @classmethod
    def from_context(cls, ctx: Any) -> QwenImageEditGenerator:
        return cls(ctx.cfg.run.generator, device=ctx.device)

    def __init__(self, cfg: Any, device: str | torch.device = "cpu"):
        from diffusers import AutoencoderKLQwenImage, QwenImageTransformer2DModel
        from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
            Qwen2VLImageProcessorPil,
        )

        self.cfg, self.dtype = cfg, torch_dtype(cfg.dtype)
        root = Path(cfg.path).expanduser()
        index = root / "model_index.json"
        if not index.is_file():
            raise FileNotFoundError(f"generator.path={cfg.path}: no model_index.json; expected a Qwen-Image-Edit "
                                    "folder in the official layout (transformer/, vae/, text_encoder/, tokenizer/, "
                                    "processor/, scheduler/)")
        cls_name = json.loads(index.read_text()).get("_class_name")
        if cls_name not in VARIANTS:
            raise ValueError(f"generator.path={cfg.path}: model_index.json names {cls_name!r}; qwen_image_edit reads "
                             f"{' or '.join(VARIANTS)} folders")
        self.variant = VARIANTS[cls_name]
        kw = dict(local_files_only=True, use_safetensors=True)
        self.transformer = QwenImageTransformer2DModel.from_pretrained(root, subfolder="transformer", dtype=self.dtype, **kw)
        on_disk = json.loads((root / "transformer" / "config.json").read_text()).get("zero_cond_t", False)
        if bool(self.transformer.config.get("zero_cond_t", False)) != bool(on_disk):
            raise RuntimeError(f"generator.path={cfg.path}: transformer config zero_cond_t={on_disk} was not kept "
                               "by this diffusers version; upgrade diffusers (Qwen-Image-Edit-2511 needs it)")
        # flow_grpo keeps this VAE in fp32 (reference §1.5)
        self.vae = AutoencoderKLQwenImage.from_pretrained(root, subfolder="vae", dtype=torch.float32, **kw)
        self.text_encoder = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            root / "text_encoder", dtype=self.dtype, local_files_only=True, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(root / "tokenizer", local_files_only=True)
        ip_dir = root / "processor" if (root / "processor" / "preprocessor_config.json").is_file() else root / "tokenizer"
        image_processor = Qwen2VLImageProcessorPil.from_pretrained(ip_dir, local_files_only=True)
        self.scheduler_config = dict(json.loads((root / "scheduler" / "scheduler_config.json").read_text()))
        self.vae_scale_factor = 2 ** len(self.vae.temperal_downsample)
        for part in (self.transformer, self.vae, self.text_encoder):
            part.requires_grad_(False).eval().to(device)
        if cfg.gradient_checkpointing:
            self.transformer.enable_gradient_checkpointing()
            self.vae.enable_gradient_checkpointing()
        self.prompts = QwenPromptEncoder(self.text_encoder, tokenizer, image_processor, self.variant)
        self._cache: OrderedDict = OrderedDict()
        self.base = SharedBase(self.transformer) if cfg.lora_rank > 0 else None

    def latent_stats(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.vae.config
        shape = (1, cfg.z_dim, 1, 1, 1)
        return (torch.tensor(cfg.latents_mean).view(shape).to(z.device, z.dtype),
                torch.tensor(cfg.latents_std).view(shape).to(z.device, z.dtype))

    def encode_prompts(self, prompts: list[str], pixels: torch.Tensor | None):
        """The conditioning of ``prompts`` given the source ``pixels`` (None: text-to-image), cached: the key
        holds the pixel tensor itself, so its id cannot be reused while cached."""
        key = (tuple(prompts), id(pixels))
        hit = self._cache.get(key)
        if hit is not None and hit[0] is pixels:
            self._cache.move_to_end(key)
            return hit[1]
        out = self.prompts.encode(prompts, pixels)
        self._cache[key] = (pixels, out)
        while len(self._cache) > PROMPT_CACHE:
            self._cache.popitem(last=False)
        return out
