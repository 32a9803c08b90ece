from harness.models.teacher import TeacherConfig  # noqa: F401  (moved here after tuning)
