import json
import os

import pytest

from harness.atomic_io import append_jsonl, atomic_write_text, read_jsonl


def test_append_keeps_old_rows_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "a" / "scores.jsonl"
    append_jsonl(path, [{"i": 0}])
    append_jsonl(path, [{"i": 1}, {"i": 2}])
    assert [r["i"] for r in read_jsonl(path)] == [0, 1, 2]
    assert os.listdir(path.parent) == ["scores.jsonl"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    atomic_write_text(path, json.dumps({"ok": 1}))

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(path, "half")
    assert json.loads(path.read_text()) == {"ok": 1}
    assert os.listdir(tmp_path) == ["summary.json"]


def test_corrupt_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError, match=r"m.jsonl:2"):
        read_jsonl(path)
