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
        if name == "encode_text":
            # Text is encoded inside forward, where ZeRO-3 has gathered the text encoder's weights;
            # samplers see no encode_text and pass the prompts through.
            raise AttributeError(name)
        return getattr(self.bare, name)
