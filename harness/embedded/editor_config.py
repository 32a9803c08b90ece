"""The shared editor initialisation's config, apart from its training code so that the CLI imports it cheaply."""

from __future__ import annotations

from dataclasses import dataclass

REF_MODES = ("channel", "token")  # harness.models.edit_model.REF_MODES, without importing diffusers


@dataclass
class EditorInitConfig:
    # 800 steps of batch 8 at lr 3e-3 (short warm-up, cosine decay to lr * min_lr_ratio): `probe editor` meets
    # its targets (docs/embedded_models.md); lower rates leave the zero-initialised reference inputs too small
    steps: int = 800
    batch_size: int = 8
    lr: float = 3e-3
    warmup_steps: int = 20
    min_lr_ratio: float = 0.02
    seed: int = 0
    ref_mode: str = "channel"  # how the source enters the editor (EditModel); "token" needs a Flux backbone

    def validate(self) -> None:
        for f in ("steps", "batch_size"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"editor.{f} must be a positive int, got {v!r}")
        if not self.lr > 0:
            raise ValueError(f"editor.lr must be > 0, got {self.lr!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"editor.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if self.ref_mode not in REF_MODES:
            raise ValueError(f"editor.ref_mode must be one of {REF_MODES}, got {self.ref_mode!r}")
