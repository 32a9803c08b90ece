"""Several LoRA adapters on one shared frozen base (peft on a diffusers model), so a 12B model is held once.

NP-Edit's generator is the ``gen`` adapter, its auxiliary (fake-score) model the ``aux`` adapter, and the
teacher / Flow-GRPO's KL reference the same base with every adapter disabled. Switching goes through
trl's ``use_adapter`` context (written for a ``PeftModel``); ``SharedBase`` gives a diffusers model the
three members it calls (``active_adapter``, ``set_adapter``, ``disable_adapter``).

Two traps this class handles (reference/real_backends.md §3.3 item 7):
- peft's ``set_adapter`` / ``disable_adapters`` switch ``requires_grad`` of the adapters, and autograd
  drops the gradient of a leaf whose ``requires_grad`` went off between forward and backward. So a switch
  never changes what is trainable: every adapter weight keeps the flag it had before the switch; the
  gradient still reaches only the adapter that was active in the forward, by the graph itself.
- with gradient checkpointing the backward recomputes the forward with whatever adapter is active *then*:
  a trained model's ``activate()`` must run before its backward (the Engine calls it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def lora_config(rank: int, alpha: float, targets: list[str], dropout: float = 0.0):
    """peft LoraConfig as the peers train (gaussian init: B = 0, so a new adapter equals the base exactly)."""
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=list(targets),
                      lora_dropout=dropout)


class SharedBase:
    """A diffusers model with named LoRA adapters; the frozen base is never trained."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.model.requires_grad_(False)
        self._disabled = False
        self._params: dict[str, list[torch.nn.Parameter]] = {}

    # ------------------------------------------------------------------ adapters
    @property
    def names(self) -> list[str]:
        return list(getattr(self.model, "peft_config", {}) or {})

    def add(self, name: str, config) -> None:
        """A fresh adapter ``name`` (an old one of that name is deleted first: every method starts fresh)."""
        if name in self.names:
            self.model.delete_adapters(name)
        self._params.clear()
        previous = self.active_adapter
        with self._keep_grad_flags():  # the other adapters stay as trainable as they were
            self.model.add_adapter(config, adapter_name=name)  # peft makes the last added one active
        self._params.clear()
        for p in self.params(name):
            p.data = p.data.float()  # adapter weights in fp32 over a bf16 base (peers: lora_dtype float32)
            p.requires_grad_(False)  # trainable only once its model says so (editor.trainable)
        self.set_adapter(previous)

    def reset(self) -> None:
        """Delete every adapter (a new method starts from the bare base)."""
        if self.names:
            self.model.delete_adapters(self.names)
        self._params.clear()
        self._disabled = False

    def params(self, name: str) -> list[torch.nn.Parameter]:
        if name not in self._params:
            self._params[name] = [p for n, p in self.model.named_parameters() if f".{name}." in n]
        return self._params[name]

    def set_trainable(self, name: str, flag: bool) -> None:
        for p in self.params(name):
            p.requires_grad_(bool(flag))

    @contextlib.contextmanager
    def _keep_grad_flags(self) -> Iterator[None]:
        flags = [(p, p.requires_grad) for name in self.names for p in self.params(name)]
        try:
            yield
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)

    # ------------------------------------------------------------------ the interface trl.use_adapter calls
    @property
    def active_adapter(self) -> str | None:
        if self._disabled or not self.names:
            return None
        return self.model.active_adapters()[0]

    def set_adapter(self, name: str | None) -> None:
        if not self.names:
            return
        with self._keep_grad_flags():
            if name is None:
                if not self._disabled:
                    self.model.disable_adapters()
                    self._disabled = True
            else:
                if self._disabled:
                    self.model.enable_adapters()
                    self._disabled = False
                if self.model.active_adapters() != [name]:
                    self.model.set_adapter(name)

    @contextlib.contextmanager
    def disable_adapter(self) -> Iterator[None]:
        previous = self.active_adapter
        self.set_adapter(None)
        try:
            yield
        finally:
            self.set_adapter(previous)

    def use(self, name: str | None):
        """Context in which ``name`` is the only active adapter (None: the bare base), via trl."""
        from trl.trainer.utils import use_adapter

        return use_adapter(self, name)

    # ------------------------------------------------------------------ weights
    def state_dict(self, name: str) -> dict[str, torch.Tensor]:
        """The adapter's LoRA weights in peft's naming without the adapter name (what diffusers saves)."""
        from peft.utils import get_peft_model_state_dict

        return get_peft_model_state_dict(self.model, adapter_name=name)

    def load(self, name: str, state: dict[str, torch.Tensor]) -> None:
        from peft.utils import set_peft_model_state_dict

        result = set_peft_model_state_dict(self.model, state, adapter_name=name)
        missing = [k for k in getattr(result, "unexpected_keys", []) if "lora" in k]
        if missing:
            raise ValueError(f"LoRA weights do not fit adapter '{name}': unexpected keys {missing[:3]}")

    def metadata(self, name: str) -> dict:
        """The adapter's LoraConfig as JSON-able data (saved beside the weights so alpha survives loading)."""
        cfg = self.model.peft_config[name].to_dict()
        return {k: (sorted(v) if isinstance(v, set) else v) for k, v in cfg.items()}
