from harness.cache import cached_build, verify


def _builder(calls):
    def build(tmp):
        calls.append(tmp)
        (tmp / "model.safetensors").write_bytes(b"x" * 1000)
        (tmp / "config.json").write_text("{}")
    return build


def test_second_call_reuses_the_entry():
    calls = []
    a = cached_build("toy", {"n": 1}, _builder(calls))
    b = cached_build("toy", {"n": 1}, _builder(calls))
    assert a == b and len(calls) == 1 and verify(a) is None


def test_other_config_gets_another_entry():
    calls = []
    assert cached_build("toy", {"n": 1}, _builder(calls)) != cached_build("toy", {"n": 2}, _builder(calls))


def test_truncated_file_is_rebuilt(capsys):
    calls = []
    entry = cached_build("toy", {"n": 1}, _builder(calls))
    (entry / "model.safetensors").write_bytes(b"x" * 10)  # truncated
    assert "does not match" in verify(entry)
    entry2 = cached_build("toy", {"n": 1}, _builder(calls))
    assert len(calls) == 2 and verify(entry2) is None
    assert (entry2 / "model.safetensors").stat().st_size == 1000
    assert "rebuilding" in capsys.readouterr().out


def test_failed_build_leaves_nothing(harness_home):
    def bad(tmp):
        (tmp / "half.bin").write_bytes(b"1")
        raise RuntimeError("killed")

    try:
        cached_build("toy", {"n": 3}, bad)
    except RuntimeError:
        pass
    assert list((harness_home / "toy").iterdir()) == []


def test_non_zero_local_rank_waits_for_the_builder(monkeypatch):
    calls = []
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("HARNESS_CACHE_WAIT_S", "0.1")
    try:
        cached_build("toy", {"n": 9}, _builder(calls))
    except TimeoutError as e:
        assert "prepare" in str(e)
    else:
        raise AssertionError("a non-zero local rank must not build")
    assert calls == []
    monkeypatch.setenv("LOCAL_RANK", "0")
    entry = cached_build("toy", {"n": 9}, _builder(calls))
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert cached_build("toy", {"n": 9}, _builder(calls)) == entry and len(calls) == 1


def _ship(root, kind, config, calls):
    """A shipped copy of the entry (kind, config): a cache entry built elsewhere, copied under root."""
    import shutil

    from harness.cache import config_hash

    other = cached_build(kind, config, _builder(calls))
    dest = root / kind / config_hash({"kind": kind, "config": config})
    shutil.copytree(other, dest)
    shutil.rmtree(other)
    return dest


def test_a_shipped_entry_is_installed_without_building_and_force_rebuilds(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_SHIPPED_DIR", str(tmp_path / "shipped"))
    calls = []
    shipped = _ship(tmp_path / "shipped", "toy", {"n": 1}, calls)
    entry = cached_build("toy", {"n": 1}, _builder(calls))
    assert len(calls) == 1 and verify(entry) is None  # only the build that made the shipped copy
    assert (entry / "model.safetensors").read_bytes() == (shipped / "model.safetensors").read_bytes()
    assert "installing the shipped copy" in capsys.readouterr().out
    cached_build("toy", {"n": 1}, _builder(calls), force=True)
    assert len(calls) == 2


def test_a_damaged_or_mislabelled_shipped_entry_is_built_instead(tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.setenv("HARNESS_SHIPPED_DIR", str(tmp_path / "shipped"))
    calls = []
    shipped = _ship(tmp_path / "shipped", "toy", {"n": 1}, calls)
    (shipped / "model.safetensors").write_bytes(b"x" * 10)  # truncated
    cached_build("toy", {"n": 1}, _builder(calls))
    assert len(calls) == 2 and "does not match its manifest" in capsys.readouterr().out

    shipped = _ship(tmp_path / "shipped", "toy", {"n": 2}, calls)  # intact files, but another key
    manifest = json.loads((shipped / "manifest.json").read_text())
    (shipped / "manifest.json").write_text(json.dumps({**manifest, "key": "0" * 16}))
    cached_build("toy", {"n": 2}, _builder(calls))
    assert len(calls) == 4 and "names another key" in capsys.readouterr().out


def test_the_shipped_models_are_intact_and_are_the_defaults():
    """harness/embedded/pretrained holds the cache entries of the default configs: a changed default (a new key)
    must ship a new copy, or the first `prepare` trains for an hour."""
    import json

    from harness.cache import config_hash, shipped_root
    from harness.embedded.teacher.config import TeacherConfig
    from harness.embedded.judge.config import JudgeConfig

    from harness.embedded.editor_config import EditorInitConfig
    from harness.embedded.editor_init import editor_key

    keys = {kind: config_hash({"kind": kind, "config": cfg.cache_key()})
            for kind, cfg in (("teacher", TeacherConfig()), ("judge", JudgeConfig()))}
    keys["editor"] = config_hash({"kind": "editor", "config": editor_key(EditorInitConfig(), keys["teacher"])})
    for kind, key in keys.items():
        entry = shipped_root() / kind / key
        assert verify(entry) is None, f"no intact shipped {kind} for the default config ({key})"
        info = json.loads((entry / "shipped.json").read_text())
        assert info["command"].startswith("python -m harness prepare --force")
        assert all(p.suffix != ".bin" for p in entry.rglob("*"))  # safetensors only
    assert sum(p.stat().st_size for p in shipped_root().rglob("*") if p.is_file()) <= 25 * 2**20
