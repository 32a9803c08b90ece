"""The roles a real generator family plays on one shared base, common to every diffusers family.

A family (``flux_kontext``, ``qwen_image_edit``) holds one frozen transformer; its roles are views of it
(harness/models/lora.py): ``initial_editor()`` = base + fresh ``gen`` adapter, ``auxiliary()`` = base +
fresh ``aux`` adapter (text-to-image), ``teacher()`` = base with adapters off and no reference,
``reference(editor)`` = base with adapters off, with the reference. ``generator.lora_rank=0``: full
fine-tuning on separate copies (small models only).

What differs per family (prompt and image encoding, the transformer call) is the role subclass's
``encode_text`` / ``encode_image`` / ``decode`` / ``_velocity``; checkpointing, trainability and the
diffusers LoRA export are here, once.
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import torch

from harness.atomic_io import write_json
from harness.models.lora import lora_config

EXPORT_NOTE = "harness_generator.json"


def torch_dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


class AdapterEditModel(torch.nn.Module):
    """One role on the family's parts. ``mode``: "lora" (its own adapter on the shared base), "full" (its own
    trainable transformer copy) or "frozen" (the base with adapters disabled)."""

    def __init__(self, family: Any, transformer: torch.nn.Module, mode: str, adapter: str | None = None,
                 accepts_ref: bool = True):
        super().__init__()
        self.family, self.mode, self.adapter, self._accepts_ref = family, mode, adapter, accepts_ref
        self.transformer = transformer

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return self.family.dtype

    @property
    def accepts_ref(self) -> bool:
        return self._accepts_ref

    # ------------------------------------------------------------------ adapters
    def _active(self):
        base = self.family.base
        if base is None or self.mode == "full":
            return contextlib.nullcontext()
        return base.use(self.adapter if self.mode == "lora" else None)

    def activate(self) -> None:
        """Make this model's adapter the active one (before its backward: checkpointed blocks recompute)."""
        if self.family.base is not None and self.mode != "full":
            self.family.base.set_adapter(self.adapter if self.mode == "lora" else None)

    # ------------------------------------------------------------------ velocity
    def velocity(self, x_t: torch.Tensor, t, text, ref: torch.Tensor | None = None) -> torch.Tensor:
        """v = eps - x0 at (x_t, t in [0, 1]); ``ref`` = the source latents (None: text-to-image)."""
        if ref is not None and not self.accepts_ref:
            raise ValueError(f"this role of {self.family.name} is text-to-image (teacher / auxiliary): ref must be None")
        with self._active():
            return self._velocity(x_t, t, text, ref)

    def _velocity(self, x_t, t, text, ref):
        raise NotImplementedError

    def forward(self, x_t, t, text, ref=None):
        """= velocity (DDP / DeepSpeed hook forward)."""
        return self.velocity(x_t, t, text, ref=ref)

    @staticmethod
    def _timestep(t, batch: int, device, dtype) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32, device=device)
        return (t.expand(batch) if t.ndim == 0 else t.reshape(batch)).to(dtype)

    # ------------------------------------------------------------------ training
    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        if self.mode == "lora":
            return list(self.family.base.params(self.adapter))
        return list(self.transformer.parameters()) if self.mode == "full" else []

    def requires_grad_(self, requires_grad: bool = True):
        """Only this role's own weights: the shared base and the other adapters are not this model's."""
        if self.mode == "lora":
            self.family.base.set_trainable(self.adapter, requires_grad)
        elif self.mode == "full":
            self.transformer.requires_grad_(requires_grad)
        return self

    def _own(self) -> dict[str, torch.nn.Parameter]:
        if self.mode == "lora":
            return {f"transformer.{n}": p for n, p in self.transformer.named_parameters() if f".{self.adapter}." in n}
        return {f"transformer.{n}": p for n, p in self.transformer.named_parameters()} if self.mode == "full" else {}

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """Checkpoints and export carry this role's own weights only (an adapter is MBs; the base is 24 GB)."""
        out = {} if destination is None else destination
        for k, p in self._own().items():
            out[prefix + k] = p if keep_vars else p.detach()
        return out

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        own = self._own()
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        if strict and (missing or unexpected):
            raise RuntimeError(f"{self.family.name} {self.mode} weights do not match: missing {missing[:3]}, "
                               f"unexpected {unexpected[:3]}")
        with torch.no_grad():
            for k, v in state_dict.items():
                if k in own:
                    own[k].copy_(v)
        return torch.nn.modules.module._IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ export
    def save_pretrained(self, root: str | Path) -> Path:
        """A LoRA that the family's pipeline loads with ``load_lora_weights`` (diffusers format, alpha in its
        metadata), or the full transformer for a full fine-tune; plus a note for ``init_from`` chains."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        base = self.family.base
        if self.mode == "lora":
            self.family.pipeline_class().save_lora_weights(
                root, transformer_lora_layers=base.state_dict(self.adapter),
                transformer_lora_adapter_metadata=base.metadata(self.adapter))
        else:
            self.transformer.save_pretrained(root / "transformer", safe_serialization=True)
        write_json(root / EXPORT_NOTE, {"family": self.family.name, "base": str(self.family.cfg.path),
                                        "mode": self.mode})
        return root


class AdapterFamily:
    """The roles of a family whose ``self.transformer`` is the shared base (``self.base``: a SharedBase, or
    None under full fine-tuning). Subclasses set ``name``, ``role_class``, ``default_targets`` and give
    ``pipeline_class()`` / ``transformer_class()``."""

    name: str
    role_class: type[AdapterEditModel]
    default_targets: list[str]
    cfg: Any
    base: Any
    transformer: torch.nn.Module

    def pipeline_class(self):
        raise NotImplementedError

    def transformer_class(self):
        raise NotImplementedError

    def _lora(self):
        return lora_config(self.cfg.lora_rank, self.cfg.lora_alpha, self.cfg.lora_targets or self.default_targets,
                           self.cfg.lora_dropout)

    def _role(self, adapter: str, accepts_ref: bool) -> AdapterEditModel:
        if self.base is None:  # full fine-tuning: a trainable copy of the base
            copy_ = copy.deepcopy(self.transformer)
            return self.role_class(self, copy_, "full", accepts_ref=accepts_ref).requires_grad_(True)
        self.base.add(adapter, self._lora())
        return self.role_class(self, self.transformer, "lora", adapter, accepts_ref=accepts_ref)

    def teacher(self) -> AdapterEditModel:
        """The frozen text-to-image base: adapters disabled, no reference (NP-Edit's DMD teacher)."""
        return self.role_class(self, self.transformer, "frozen", accepts_ref=False)

    def initial_editor(self) -> AdapterEditModel:
        """A fresh ``gen`` adapter (B = 0: exactly the base with the reference in); the adapters of an
        earlier method of the run are deleted first, so no engine sees another method's trainable weights."""
        if self.base is not None:
            self.base.reset()
        return self._role("gen", accepts_ref=True)

    def auxiliary(self) -> AdapterEditModel:
        """NP-Edit's fake-score model: a fresh ``aux`` adapter, equal to the teacher at step 0."""
        return self._role("aux", accepts_ref=False)

    def reference(self, editor: AdapterEditModel) -> Any:
        """Flow-GRPO's KL reference: the base with adapters disabled (a frozen copy under full fine-tuning)."""
        if self.base is None:
            return copy.deepcopy(editor).requires_grad_(False)
        return self.role_class(self, self.transformer, "frozen", accepts_ref=True)

    def load_editor(self, folder: str | Path) -> AdapterEditModel:
        """The generator another run exported (``init_from``): its LoRA loaded into a fresh ``gen`` adapter."""
        editor = self.initial_editor()
        folder = Path(folder)
        if self.base is None:
            editor.transformer.load_state_dict(
                self.transformer_class().from_pretrained(folder, subfolder="transformer").state_dict())
            return editor
        state = self.pipeline_class().lora_state_dict(str(folder))
        state = state[0] if isinstance(state, tuple) else state
        self.base.load("gen", {k.removeprefix("transformer."): v for k, v in state.items()})
        return editor
