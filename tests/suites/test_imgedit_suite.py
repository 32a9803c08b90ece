"""ImgEdit-Bench Basic from basic_edit.json + images: loading, skips that are counted, clear errors."""


import pytest

from benchmarks.imgedit_suite import CATEGORIES
from harness.cli import main
from harness.suite import BenchmarkError
from tests.suites.fixtures import imgedit_folder


def _suite(make_suite, basic, *overrides):
    return make_suite("imgedit", f"imgedit.path={basic}", f"imgedit.images={basic.parent / 'singleturn'}", *overrides)


def test_loads_every_entry_with_its_edit_type(make_suite, tmp_path):
    suite = _suite(make_suite, imgedit_folder(tmp_path))
    samples = suite.samples()
    assert [(s.id, s.category) for s in samples] == [("1", "add"), ("2", "remove"), ("3", "style"), ("4", "compose")]
    assert samples[0].instruction == "add a hat to the cat" and samples[0].source.shape == (3, 32, 32)
    assert samples[0].meta["source_size"] == [20, 30] and len(CATEGORIES) == 9
    assert suite.load_report()["skipped"] == 0
    assert [s.id for s in _suite(make_suite, imgedit_folder(tmp_path / "b"), "imgedit.categories=[style]").samples()] == ["3"]


def test_json_file_path_and_default_image_root(make_suite, tmp_path):
    entries = {"7": {"id": "x/7.png", "prompt": "turn it blue", "edit_type": "adjust"}}
    basic = imgedit_folder(tmp_path, entries)
    (basic.parent / "singleturn" / "x").rename(basic / "x")  # images beside the JSON
    assert [s.id for s in make_suite("imgedit", f"imgedit.path={basic / 'basic_edit.json'}").samples()] == ["7"]


def test_bad_entries_and_corrupt_or_missing_images_are_skipped_and_counted(make_suite, tmp_path):
    entries = {
        "1": {"id": "a/1.jpg", "prompt": "add a cat", "edit_type": "add"},
        "2": {"id": "a/2.jpg", "edit_type": "add"},  # no prompt
        "3": {"id": "a/3.jpg", "prompt": "dance", "edit_type": "dance"},
        "4": {"id": "a/4.jpg", "prompt": "remove it", "edit_type": "remove"},  # corrupt image
        "5": {"id": "../../etc/passwd", "prompt": "x", "edit_type": "add"},
        "6": "not an object",
    }
    basic = imgedit_folder(tmp_path, entries, corrupt=("4",))
    suite = _suite(make_suite, basic)
    assert [s.id for s in suite.samples()] == ["1"]
    report = suite.load_report()
    assert report["skipped"] == 5
    assert [(e["key"], e["field"]) for e in report["skipped_examples"]] == [
        ("2", "prompt"), ("3", "edit_type"), ("4", "id"), ("5", "id"), ("6", "entry")]
    assert "cannot decode image" in report["skipped_examples"][2]["reason"]


@pytest.mark.parametrize("text, must_say", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must hold a non-empty JSON object"),
])
def test_malformed_json_names_the_file(make_suite, tmp_path, text, must_say):
    basic = imgedit_folder(tmp_path)
    (basic / "basic_edit.json").write_text(text)
    with pytest.raises(BenchmarkError, match=must_say) as e:
        _suite(make_suite, basic).samples()
    assert "basic_edit.json" in str(e.value)


def test_folder_without_the_json_or_without_usable_samples(make_suite, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchmarkError, match="basic_edit.json not found"):
        make_suite("imgedit", f"imgedit.path={tmp_path / 'empty'}").samples()
    basic = imgedit_folder(tmp_path / "b")
    with pytest.raises(BenchmarkError, match="no usable samples"):  # images are elsewhere: every one is missing
        make_suite("imgedit", f"imgedit.path={basic}").samples()


def test_config_errors_exit_2(capsys, tmp_path):
    assert main(["run", "methods=copy", "suites=imgedit"]) == 2
    assert "imgedit.path is not set" in capsys.readouterr().err
    assert main(["run", "methods=copy", "suites=imgedit", f"imgedit.path={tmp_path}", "imgedit.images=/nope"]) == 2
    assert "imgedit.images=/nope is not a folder" in capsys.readouterr().err
