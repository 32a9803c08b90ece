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


@pytest.fixture
def clean_dist_env():
    """In-process DeepSpeed engines set RANK/WORLD_SIZE/...; remove them afterwards so later tests do
    not run as a 1-rank distributed job. The process group stays: DeepSpeed caches it per process."""
    from harness.engine import _reset_accelerate_state

    keys = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    saved = {k: os.environ.pop(k) for k in keys if k in os.environ}
    yield
    for k in keys:
        os.environ.pop(k, None)
    os.environ.update(saved)
    _reset_accelerate_state()


@pytest.fixture
def make_suite(tmp_path):
    """make_suite("gedit", "gedit.path=...", ...) -> the suite built from a resolved config."""
    import torch

    from harness import registry
    from harness.config import load_config
    from harness.method import RunContext

    def make(name: str, *overrides: str):
        cfg = load_config("default", ["methods=copy", f"suites={name}", *overrides])
        ctx = RunContext(cfg=cfg, run_dir=tmp_path / "run", home=tmp_path / "home", device=torch.device("cpu"))
        return registry.suites.load(name)(ctx)

    return make
