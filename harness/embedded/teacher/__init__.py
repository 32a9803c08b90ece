"""The embedded text-to-image teacher: its config (config.py), training (train.py, text_pretrain.py,
scene_aux.py) and cache (cache.py). Importing the package is cheap: training code loads on first use."""
from harness.embedded.teacher.cache import load_or_train_teacher
from harness.embedded.teacher.config import TeacherConfig

__all__ = ["TeacherConfig", "load_or_train_teacher"]
