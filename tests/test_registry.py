"""Registry: lazy in-tree entries, third-party entry points, soft failure in ls, loud in run."""

import sys
import textwrap

import pytest

from harness import registry
from harness.cli import main


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """A fake installed distribution with one good and one broken method entry point."""
    site = tmp_path / "site"
    (site / "my_plugins").mkdir(parents=True)
    (site / "my_plugins" / "__init__.py").write_text("")
    (site / "my_plugins" / "good.py").write_text(textwrap.dedent("""
        import torch
        from harness.method import Method

        class Blank(Method):
            def edit(self, samples, steps=None):
                return torch.zeros(len(samples), *samples[0].source.shape)
    """))
    (site / "my_plugins" / "broken.py").write_text("import a_module_that_does_not_exist\n")
    info = site / "my_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[harness.methods]\nblank = my_plugins.good:Blank\nbroken = my_plugins.broken:Thing\n"
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in ("blank", "broken"):
        registry.methods._loaded.pop(name, None)
    for mod in [m for m in sys.modules if m.startswith("my_plugins")]:
        del sys.modules[mod]


def test_builtin_entries_are_lazy_strings():
    entry = registry.methods.entries()["copy"]
    assert entry.source == "builtin" and entry.target == "methods.calibration:CopyMethod"


def test_unknown_name_suggests_close_match():
    with pytest.raises(registry.UnknownPluginError) as err:
        registry.methods.load("cpy")
    assert "cpy" in str(err.value) and "Did you mean 'copy'" in str(err.value)


def test_entry_point_plugin_is_found_and_loaded(plugin_dist):
    assert {"blank", "broken"} <= set(registry.methods.names())
    cls = registry.methods.load("blank")
    assert cls.__name__ == "Blank"


def test_broken_plugin_is_soft_in_ls(plugin_dist, capsys):
    assert main(["ls", "methods"]) == 0
    out = capsys.readouterr().out
    assert "blank" in out and "copy" in out
    broken_line = next(line for line in out.splitlines() if "broken" in line)
    assert "BROKEN" in broken_line and "a_module_that_does_not_exist" in broken_line


def test_broken_plugin_is_loud_in_run_only_when_used(plugin_dist, tmp_path, capsys):
    code = main(["run", "methods=broken", f"output_dir={tmp_path / 'out'}"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" in err and "a_module_that_does_not_exist" in err


def test_runtime_registration_and_decorator():
    @registry.register("suites", "tmp_suite")
    class TmpSuite:
        pass

    try:
        assert registry.suites.load("tmp_suite") is TmpSuite
    finally:
        registry.suites.unregister("tmp_suite")
    assert "tmp_suite" not in registry.suites.names()


def test_a_scorer_or_generator_plugin_without_from_context_is_refused_by_name():
    from types import SimpleNamespace

    from harness.models.generator import build_generator
    from harness.scorers.build import build_scorer

    class Bare:
        pass

    registry.scorers.register("bare", Bare)
    registry.generators.register("bare", Bare)
    try:
        ctx = SimpleNamespace(cfg=SimpleNamespace(run=SimpleNamespace(generator="bare")), extras={})
        with pytest.raises(TypeError, match="scorer 'bare'.*from_context"):
            build_scorer("bare", ctx)
        with pytest.raises(TypeError, match="generator 'bare'.*from_context"):
            build_generator(ctx)
    finally:
        registry.scorers.unregister("bare")
        registry.generators.unregister("bare")


def test_the_generator_family_is_built_once_per_run_context():
    from types import SimpleNamespace

    from harness.models.generator import build_generator

    built = []

    class Family:
        @classmethod
        def from_context(cls, ctx):
            built.append(ctx)
            return cls()

    registry.generators.register("counted", Family)
    try:
        ctx = SimpleNamespace(cfg=SimpleNamespace(run=SimpleNamespace(generator="counted")), extras={})
        assert build_generator(ctx) is build_generator(ctx) and len(built) == 1
    finally:
        registry.generators.unregister("counted")
