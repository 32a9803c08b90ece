import pytest
import torch

from harness.config import load_config
from harness.method import RunContext


@pytest.fixture
def make_suite(tmp_path):
    """make_suite("gedit", "gedit.path=...", ...) -> the suite built from a resolved config."""
    from harness import registry

    def make(name: str, *overrides: str):
        cfg = load_config("default", ["methods=copy", f"suites={name}", *overrides])
        ctx = RunContext(cfg=cfg, run_dir=tmp_path / "run", home=tmp_path / "home", device=torch.device("cpu"))
        return registry.suites.load(name)(ctx)

    return make
