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
