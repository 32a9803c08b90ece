"""The shipped embedded models stay reachable: the default configs hash to the shipped folder names and
the tokenizers the code builds today equal the shipped ones. A refactor that drops or renames a config
field changes a cache key and would orphan a model that takes ~110 CPU-minutes to retrain."""

import json
from pathlib import Path

from harness.cache import entry_key, shipped_root


def _shipped(kind: str) -> Path:
    entries = [p for p in (shipped_root() / kind).iterdir() if (p / "shipped.json").exists()]
    assert len(entries) == 1, f"expected one shipped {kind}, found {entries}"
    return entries[0]


def _vocab(tokenizer_json: Path) -> dict:
    return json.loads(tokenizer_json.read_text())["model"]["vocab"]


def test_default_teacher_config_hashes_to_the_shipped_folder():
    from harness.embedded.teacher.config import TeacherConfig

    assert entry_key("teacher", TeacherConfig().cache_key()) == _shipped("teacher").name


def test_default_judge_config_hashes_to_the_shipped_folder():
    from harness.embedded.judge.config import JudgeConfig

    assert entry_key("judge", JudgeConfig().cache_key()) == _shipped("judge").name


def test_judge_tokenizer_vocabulary_equals_the_shipped_one(tmp_path):
    from harness.embedded.judge.model import build_tokenizer

    build_tokenizer().save_pretrained(tmp_path)
    assert _vocab(tmp_path / "tokenizer.json") == _vocab(_shipped("judge") / "tokenizer.json")


def test_teacher_tokenizer_vocabulary_equals_the_shipped_one(tmp_path):
    from harness.models.text_encoder import build_tokenizer

    build_tokenizer().save_pretrained(tmp_path)
    assert _vocab(tmp_path / "tokenizer.json") == _vocab(_shipped("teacher") / "tokenizer" / "tokenizer.json")


def test_default_editor_config_hashes_to_the_shipped_folder():
    from harness.embedded.editor_config import EditorInitConfig
    from harness.embedded.editor_init import editor_key
    from harness.embedded.teacher import TeacherConfig

    teacher_key = entry_key("teacher", TeacherConfig().cache_key())
    assert entry_key("editor", editor_key(EditorInitConfig(), teacher_key)) == _shipped("editor").name
