"""The embedded world's generator family (registry ``generators``: ``embedded``, the default): the
shipped text-to-image teacher and, from it, the editor every generator method starts from."""

from __future__ import annotations

from typing import Any

from harness.models.edit_model import EditModel


class EmbeddedGenerator:
    def __init__(self, teacher_cfg: Any):
        self.teacher_cfg = teacher_cfg
        self._teacher: EditModel | None = None

    @classmethod
    def from_context(cls, ctx: Any) -> "EmbeddedGenerator":
        return cls(ctx.cfg.run.teacher)

    def teacher(self) -> EditModel:
        if self._teacher is None:
            from harness.embedded.teacher import load_or_train_teacher

            self._teacher = load_or_train_teacher(self.teacher_cfg)
        return self._teacher

    def initial_editor(self, ref_mode: str) -> EditModel:
        """The teacher with reference inputs at zero: exactly the teacher at the first step."""
        return EditModel.from_teacher(self.teacher(), ref_mode=ref_mode)
