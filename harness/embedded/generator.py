"""The embedded world's generator family (registry ``generators``: ``embedded``, the default): the
shipped text-to-image teacher and the shared editor initialisation every generator method starts from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.models.edit_model import EditModel


class EmbeddedGenerator:
    def __init__(self, teacher_cfg: Any, editor_cfg: Any):
        self.teacher_cfg = teacher_cfg
        self.editor_cfg = editor_cfg
        self._teacher: EditModel | None = None

    @classmethod
    def from_context(cls, ctx: Any) -> "EmbeddedGenerator":
        return cls(ctx.cfg.run.teacher, ctx.cfg.run.editor)

    def teacher(self) -> EditModel:
        if self._teacher is None:
            from harness.embedded.teacher import load_or_train_teacher

            self._teacher = load_or_train_teacher(self.teacher_cfg)
        return self._teacher

    def editor_folder(self, force: bool = False) -> Path:
        """The cached editor initialisation (harness/embedded/editor_init.py) for this teacher."""
        from harness.cache import entry_key
        from harness.embedded.editor_init import load_or_train_editor

        return load_or_train_editor(self.editor_cfg, self.teacher(), entry_key("teacher", self.teacher_cfg.cache_key()),
                                    force=force)

    def initial_editor(self) -> EditModel:
        """A fresh copy of the editor initialisation: it copies its source cleanly (`probe editor`)."""
        return EditModel.from_pretrained(self.editor_folder())
