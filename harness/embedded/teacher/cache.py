"""The cached teacher: trained on first use under ``$HARNESS_HOME/teacher/<key>/``, or installed from the
copy shipped in harness/embedded/pretrained/teacher/ when the config is the default."""
from __future__ import annotations

from typing import TYPE_CHECKING

from harness.cache import cached_build
from harness.embedded.teacher.config import TeacherConfig

if TYPE_CHECKING:
    from harness.models.edit_model import EditModel


def load_or_train_teacher(cfg: TeacherConfig | None = None, force: bool = False, progress: bool = True) -> EditModel:
    """The cached teacher for ``cfg`` (trained on first use), loaded with from_pretrained and frozen."""
    from harness.embedded.teacher.train import train_teacher  # lazy: diffusers, only when a teacher is needed
    from harness.models.edit_model import EditModel

    cfg = cfg or TeacherConfig()
    cfg.validate()
    entry = cached_build("teacher", cfg.cache_key(), lambda tmp: train_teacher(cfg, tmp, progress=progress), force=force)
    model = EditModel.from_pretrained(entry)
    model.requires_grad_(False)
    return model.eval()
