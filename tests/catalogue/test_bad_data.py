"""Catalogue, data: corrupt and truncated images, JSON entries with missing fields, unknown categories and
empty datasets. A bad entry is skipped and counted in summary.json (``load``); a dataset with nothing
usable, or a file that is not what it should be, is one line and exit 2."""

import io
import json

import pytest
from PIL import Image

from harness import registry
from tests.catalogue.conftest import one_line_error
from tests.suites.fake_judges import FakeTextJudge
from tests.suites.fixtures import gedit_dataset, gedit_folder, gedit_rows, imgedit_folder, png


def _jpeg(size=(20, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format="JPEG")
    return buf.getvalue()


GOOD = {"id": "a/ok.jpg", "prompt": "add a hat", "edit_type": "add"}
# key -> (entry, the field the skip names); images written below where the entry names one
BAD = {
    "corrupt": ({"id": "a/corrupt.jpg", "prompt": "remove it", "edit_type": "remove"}, "id"),
    "truncated_jpeg": ({"id": "a/trunc.jpg", "prompt": "make it red", "edit_type": "adjust"}, "id"),
    "truncated_png": ({"id": "a/trunc.png", "prompt": "make it red", "edit_type": "adjust"}, "id"),
    "empty_file": ({"id": "a/empty.jpg", "prompt": "make it red", "edit_type": "adjust"}, "id"),
    "missing_image": ({"id": "a/nowhere.jpg", "prompt": "add a tree", "edit_type": "add"}, "id"),
    "no_prompt": ({"id": "a/ok.jpg", "edit_type": "add"}, "prompt"),
    "empty_prompt": ({"id": "a/ok.jpg", "prompt": " ", "edit_type": "add"}, "prompt"),
    "unknown_category": ({"id": "a/ok.jpg", "prompt": "teleport it", "edit_type": "teleport"}, "edit_type"),
    "not_an_object": (["a/ok.jpg", "add a hat"], "entry"),
}


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory):
    """One ImgEdit run over a folder holding two good entries and every bad kind above."""
    from harness.cli import main

    root = tmp_path_factory.mktemp("bench")
    entries = {"good1": GOOD, "good2": {**GOOD, "prompt": "remove the hat", "edit_type": "remove"},
               **{k: v[0] for k, v in BAD.items()}}
    basic = imgedit_folder(root, entries, corrupt=("corrupt",))
    images = root / "singleturn" / "a"
    (images / "trunc.jpg").write_bytes(_jpeg()[:200])
    (images / "trunc.png").write_bytes(png((10, 20, 30), (20, 30))[:60])
    (images / "empty.jpg").write_bytes(b"")
    (images / "nowhere.jpg").unlink()
    registry.scorers.register("fake_text", FakeTextJudge)
    out = root / "out"
    try:
        code = main(["run", "-q", "methods=copy", "suites=imgedit", f"imgedit.path={basic}",
                     f"imgedit.images={root / 'singleturn'}", "imgedit.judge.scorer=fake_text",
                     "world.resolution=16", f"output_dir={out}"])
    finally:
        registry.scorers.unregister("fake_text")
    assert code == 0
    return json.loads((out / "summary.json").read_text())


def test_the_run_counts_every_skip(judged_run):
    load = judged_run["copy"]["imgedit"]["load"]
    assert load["loaded"] == 2 and load["skipped"] == len(BAD)
    assert judged_run["copy"]["imgedit"]["judge"]["parsed"] == 2  # only the good entries were judged


@pytest.mark.parametrize("key", list(BAD))
def test_each_bad_entry_is_skipped_naming_its_field(key, judged_run):
    skipped = {e["key"]: e for e in judged_run["copy"]["imgedit"]["load"]["skipped_examples"]}
    assert skipped[key]["field"] == BAD[key][1], skipped[key]
    assert skipped[key]["reason"]


@pytest.mark.parametrize("text, must_name", [
    ("{}", ["basic_edit.json", "non-empty"]),
    ("[]", ["basic_edit.json", "non-empty"]),
    ('{"1": {"id": "a.jpg"', ["basic_edit.json", "not valid JSON"]),
    ('{"1": {"id": "a/x.jpg", "prompt": "p", "edit_type": "fly"}}', ["no usable samples", "1 skipped"]),
])
def test_an_imgedit_file_with_nothing_usable_exits_2(text, must_name, cli, tmp_path):
    basic = imgedit_folder(tmp_path / "b", {})
    (basic / "basic_edit.json").write_text(text)
    code, err = cli("run", "methods=copy", "suites=imgedit", f"imgedit.path={basic}", f"output_dir={tmp_path / 'o'}")
    one_line_error(code, err, *must_name)


def test_a_json_file_that_is_not_utf8(cli, tmp_path):
    basic = imgedit_folder(tmp_path / "b", {})
    (basic / "basic_edit.json").write_bytes(b"\xff\xfe\x00garbage")
    code, err = cli("run", "methods=copy", "suites=imgedit", f"imgedit.path={basic}", f"output_dir={tmp_path / 'o'}")
    one_line_error(code, err, "basic_edit.json", "UTF-8")


def test_an_unknown_imgedit_category_filter(cli, tmp_path):
    basic = imgedit_folder(tmp_path / "b")
    code, err = cli("run", "methods=copy", "suites=imgedit", f"imgedit.path={basic}", "imgedit.categories=[teleport]",
                    f"output_dir={tmp_path / 'o'}")
    one_line_error(code, err, "imgedit.categories", "add", "remove")


def test_gedit_dataset_missing_a_field(cli, tmp_path):
    rows = [{k: v for k, v in r.items() if k != "instruction"} for r in gedit_rows()]
    import datasets

    out = tmp_path / "gedit"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(out))
    code, err = cli("run", "methods=copy", "suites=gedit", f"gedit.path={out}", f"output_dir={tmp_path / 'o'}")
    one_line_error(code, err, "gedit.path", "instruction")


def test_gedit_dataset_with_no_rows(cli, tmp_path):
    import datasets

    path = tmp_path / "gedit"
    features = gedit_dataset(gedit_rows()[:1]).features
    empty = datasets.Dataset.from_dict({k: [] for k in features}, features=features)
    datasets.DatasetDict({"train": empty}).save_to_disk(str(path))
    code, err = cli("run", "methods=copy", "suites=gedit", f"gedit.path={path}", f"output_dir={tmp_path / 'o'}")
    one_line_error(code, err, f"gedit.path={path}")  # datasets cannot even open a 0-row save: named as unreadable


def test_gedit_corrupt_image_rows_are_skipped_and_counted(make_suite, tmp_path):
    rows = gedit_rows()
    rows[0]["input_image"] = {"bytes": b"\x89PNG\r\n\x1a\nnot a png", "path": None}
    rows[2]["input_image"] = {"bytes": _jpeg()[:100], "path": None}
    suite = make_suite("gedit", f"gedit.path={gedit_folder(tmp_path, rows)}", "gedit.language=all")
    assert len(suite.samples()) == len(rows) - 2
    report = suite.load_report()
    assert report["skipped"] == 2 and {e["row"] for e in report["skipped_examples"]} == {0, 2}
