"""A trained model as the samplers see it, while the Engine holds its wrapped copy."""

from __future__ import annotations

from typing import Any


class Trained:
    """``velocity`` goes through the engine-wrapped module's ``forward`` (so DDP / DeepSpeed hooks
    run: gradient sync, ZeRO-3 parameter gathering); everything else (encode_text, decode,
    channels, ...) is read from the bare model."""

    def __init__(self, wrapped: Any, bare: Any):
        self.wrapped, self.bare = wrapped, bare

    def velocity(self, x_t, t, text, ref=None):
        return self.wrapped(x_t, t, text, ref=ref)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bare, name)
