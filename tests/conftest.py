import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def harness_home(tmp_path, monkeypatch):
    """Every test gets its own empty $HARNESS_HOME: no test depends on a cache left by another."""
    home = tmp_path / "harness_home"
    monkeypatch.setenv("HARNESS_HOME", str(home))
    return home
