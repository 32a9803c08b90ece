"""GEdit-Bench from a local copy in its exact schema: loading, filters, official layout, bad input."""

import pytest
import torch
from PIL import Image

from benchmarks.gedit_suite import CATEGORIES
from harness.cli import main
from harness.config import ConfigError
from harness.suite import BenchmarkError
from tests.suites.fixtures import CORRUPT, gedit_folder, gedit_rows


@pytest.fixture
def gedit_dir(tmp_path):
    return gedit_folder(tmp_path)


def test_loads_english_full_set_by_default_at_the_run_resolution(make_suite, gedit_dir):
    suite = make_suite("gedit", f"gedit.path={gedit_dir}")
    samples = suite.samples()
    assert [s.id for s in samples] == ["k1_en", "k2_en", "k3_en"]
    assert {s.category for s in samples} <= set(CATEGORIES) and len(CATEGORIES) == 11
    s = samples[0]
    assert s.source.shape == (3, 32, 32) and s.target is None and s.instruction == "edit k1 in English"
    assert s.meta["language"] == "en" and s.meta["source_size"] == [24, 16]  # input_image's own size
    assert suite.load_report()["skipped"] == 0


@pytest.mark.parametrize("overrides, ids", [
    (["gedit.language=cn"], ["k1_cn", "k2_cn", "k3_cn"]),
    (["gedit.language=all"], ["k1_en", "k1_cn", "k2_en", "k2_cn", "k3_en", "k3_cn"]),
    (["gedit.subset=intersection"], ["k1_en", "k3_en"]),
    (["gedit.language=all", "gedit.subset=intersection", "gedit.categories=[color_alter]"], ["k1_en", "k1_cn"]),
])
def test_language_subset_and_category_filters(make_suite, gedit_dir, overrides, ids):
    assert [s.id for s in make_suite("gedit", f"gedit.path={gedit_dir}", *overrides).samples()] == ids


def test_parquet_snapshot_and_hub_cache_folder_load_too(make_suite, tmp_path):
    snap = gedit_folder(tmp_path, as_parquet=True)
    assert len(make_suite("gedit", f"gedit.path={snap}", "gedit.resolution=16").samples()) == 3
    repo = tmp_path / "datasets--stepfun-ai--GEdit-Bench"
    (repo / "snapshots").mkdir(parents=True)
    snap.rename(repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    assert len(make_suite("gedit", f"gedit.path={repo}").samples()) == 3


def test_outputs_are_written_in_the_official_layout(make_suite, gedit_dir, tmp_path):
    suite = make_suite("gedit", f"gedit.path={gedit_dir}", "gedit.language=all")
    samples = suite.samples()
    suite.write_official("copy", samples, torch.stack([s.source for s in samples]), tmp_path / "out")
    root = tmp_path / "out" / "gedit" / "copy" / "fullset"
    for s in samples:
        folder = root / s.category / s.meta["language"]
        with Image.open(folder / f"{s.meta['key']}.png") as im:
            assert im.size == (32, 32)
        with Image.open(folder / f"{s.meta['key']}_SRCIMG.png") as im:
            assert im.size == (24, 16)  # the judged source at its own size
    assert sorted(p.name for p in (root / "subject-add").iterdir()) == ["cn", "en"]


def test_corrupt_image_and_bad_fields_are_skipped_and_counted(make_suite, tmp_path):
    rows = gedit_rows()
    rows[0]["input_image_raw"] = {"bytes": CORRUPT, "path": None}  # k1 en
    rows[2]["task_type"] = "teleport"  # k2 en
    rows[4]["key"] = "../escape"  # k3 en
    suite = make_suite("gedit", f"gedit.path={gedit_folder(tmp_path, rows)}", "gedit.language=all")
    assert [s.id for s in suite.samples()] == ["k1_cn", "k2_cn", "k3_cn"]
    report = suite.load_report()
    assert report["skipped"] == 3
    assert [(e["key"], e["field"]) for e in report["skipped_examples"]] == [
        ("k2", "task_type"), ("../escape", "key"), ("k1", "input_image_raw")]


def test_missing_field_names_the_field(make_suite, tmp_path):
    rows = [{k: v for k, v in r.items() if k != "Intersection_exist"} for r in gedit_rows()]
    import datasets

    folder = tmp_path / "nofield"
    ds = datasets.Dataset.from_list(rows).cast_column("input_image", datasets.Image())
    datasets.DatasetDict({"train": ds}).save_to_disk(str(folder))
    with pytest.raises(BenchmarkError, match="no field.*Intersection_exist"):
        make_suite("gedit", f"gedit.path={folder}").samples()


def test_folder_that_is_not_a_dataset(make_suite, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchmarkError, match="no dataset found"):
        make_suite("gedit", f"gedit.path={tmp_path / 'empty'}").samples()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "dataset_dict.json").write_text("{not json")
    with pytest.raises(BenchmarkError, match="not a readable dataset"):
        make_suite("gedit", f"gedit.path={bad}").samples()


@pytest.mark.parametrize("overrides, must_name", [
    ([], "gedit.path is not set"),
    (["gedit.path=/no/such/folder"], "gedit.path=/no/such/folder does not exist"),
    (["gedit.path=/tmp", "gedit.language=de"], "gedit.language"),
    (["gedit.path=/tmp", "gedit.categories=[dance]"], "gedit.categories"),
])
def test_config_errors_exit_2_naming_the_key(overrides, must_name, capsys):
    assert main(["run", "methods=copy", "suites=gedit", *overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert must_name in err and len(err.splitlines()) == 1


def test_suite_keys_without_the_suite_say_to_select_it():
    with pytest.raises(ConfigError, match="suite 'gedit' is not selected; add suites=shapes,gedit"):
        from harness.config import load_config

        load_config("default", ["methods=copy", "gedit.path=/tmp"])


def test_bad_folder_exits_2_through_the_cli(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc = main(["run", "methods=copy", "suites=gedit", f"gedit.path={tmp_path / 'empty'}",
               f"output_dir={tmp_path / 'out'}"])
    assert rc == 2 and "no dataset found" in capsys.readouterr().err
