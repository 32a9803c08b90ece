"""`harness ablate`: table files, resumable runs, the 95 % interval in the CSV, clear errors."""

import math

import pandas as pd
import pytest
import yaml

from harness import registry
from harness.ablate import known_tables, load_table
from harness.cli import main
from reports.ablation import write_ablation

# Calibration rows run in about a second each: the cheapest real path through `run`.
CALIBRATION_TABLE = {
    "title": "Calibration bounds",
    "paper": {"source": "test", "scale": "none", "metrics": ["Overall"], "rows": {"Top": {"Overall": 7.0}}},
    "metrics": ["edit_success", "preservation"],
    "rows": [{"label": "copy", "methods": ["copy"]}, {"label": "target", "methods": ["target"], "paper": "Top"}],
}


def _table(tmp_path, data=CALIBRATION_TABLE, name="calib"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="module")
def ablated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("abl")
    table, out = _table(tmp), tmp / "out"
    assert main(["ablate", table, "seeds=2", "world.n_eval=14", f"output_dir={out}"]) == 0
    return table, out


def test_every_run_and_file_is_written(ablated):
    _, out = ablated
    for label in ("copy", "target"):
        for seed in (0, 1):
            assert (out / label / f"seed{seed}" / "summary.json").exists()
    csv = pd.read_csv(out / "ablation_calib.csv")
    assert csv["variant"].tolist() == ["copy", "target"] and csv["n_seeds"].tolist() == [2, 2]
    for col in ("edit_success_mean", "edit_success_ci_low", "edit_success_ci_high", "paper_Overall"):
        assert col in csv
    assert csv.loc[1, "edit_success_mean"] == 1.0 and csv.loc[1, "paper_Overall"] == 7.0
    md = (out / "ablation_calib.md").read_text()
    assert "| target    | target    | 1.000 ± 0.000" in md and "different" in md.lower()
    assert (out / "ablation_calib.png").stat().st_size > 0


def test_rerun_skips_finished_runs(ablated, monkeypatch, capsys):
    table, out = ablated
    import harness.runner

    def fail(cfg):
        raise AssertionError("a finished run ran again")

    monkeypatch.setattr(harness.runner, "run", fail)
    assert main(["ablate", table, "seeds=2", "world.n_eval=14", f"output_dir={out}"]) == 0
    assert capsys.readouterr().out.count("finished earlier, skipped") == 4


def test_other_overrides_into_the_same_dir_are_refused(ablated, capsys):
    table, out = ablated
    assert main(["ablate", table, "seeds=1", "world.n_eval=7", f"output_dir={out}"]) == 2
    assert "different config" in capsys.readouterr().err


def test_interval_in_the_files_matches_hand_computation(tmp_path):
    table = load_table(_table(tmp_path))
    runs = []
    for seed, value in enumerate([0.2, 0.4, 0.6]):
        d = tmp_path / f"seed{seed}"
        d.mkdir()
        rows = [{"method": "copy", "suite": "shapes", "sample_id": f"s{i}", "category": "c",
                 "edit_success": value, "preservation": 1.0} for i in range(2)]
        pd.DataFrame(rows).to_json(d / "scores.jsonl", orient="records", lines=True)
        runs.append((table.rows[0], seed, d))
    write_ablation(table, runs, tmp_path)
    row = pd.read_csv(tmp_path / "ablation_calib.csv").iloc[0]
    half = 4.302653 * 0.2 / math.sqrt(3)  # t(0.975, 2) from a t table
    assert row["edit_success_mean"] == pytest.approx(0.4)
    assert (row["edit_success_ci_low"], row["edit_success_ci_high"]) == pytest.approx((0.4 - half, 0.4 + half))
    assert f"0.400 ± {half:.3f}" in (tmp_path / "ablation_calib.md").read_text()


def test_shipped_tables_name_known_methods_and_paper_rows():
    assert set(known_tables()) >= {"objectives", "steps", "data", "judge", "rl"}
    names = set(registry.methods.names())
    for name in known_tables():
        table = load_table(name)  # checks every row's paper name against paper.rows
        assert all(m in names for row in table.rows for m in row.methods), name
    assert [r.label for r in load_table("objectives").rows] == ["full", "dmd_only", "vlm_only", "no_identity",
                                                                "full_ce"]


@pytest.mark.parametrize("args, must_say", [
    (["ablate", "objectivs"], "Did you mean 'objectives'"),
    (["ablate", "TABLE", "seeds=0"], "seeds="),
    (["ablate", "TABLE", "seed=1"], "seeds=N"),
    (["ablate", "TABLE", "method.stpes=3"], "no method of table 'calib' has a config key 'stpes'"),
    (["ablate", "TABLE", "world.nope=1"], "row 'copy': unknown key 'world.nope'"),
])
def test_bad_input_exits_2_naming_it(args, must_say, tmp_path, capsys):
    args = [_table(tmp_path) if a == "TABLE" else a for a in args]
    assert main([*args, f"output_dir={tmp_path / 'o'}"]) == 2
    assert must_say in capsys.readouterr().err


def test_a_table_wide_override_of_a_key_a_row_varies_is_refused(tmp_path, capsys):
    data = {**CALIBRATION_TABLE, "rows": [{"label": "x", "methods": ["copy"], "overrides": {"world.n_eval": 14}}]}
    assert main(["ablate", _table(tmp_path, data), "world.n_eval=7", f"output_dir={tmp_path / 'o'}"]) == 2
    assert "world.n_eval is what row 'x' of table 'calib' varies" in capsys.readouterr().err


def test_bad_row_names_the_row(tmp_path, capsys):
    data = {**CALIBRATION_TABLE, "rows": [{"label": "x", "methods": ["copy"], "paper": "Nope"}]}
    assert main(["ablate", _table(tmp_path, data), f"output_dir={tmp_path / 'o'}"]) == 2
    assert "row 'x': paper row 'Nope'" in capsys.readouterr().err
