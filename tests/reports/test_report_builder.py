"""The report from a hand-written run directory: exact Markdown cells, LaTeX, parse failures,
provenance per method row, reward-vs-oracle gap, and the merge of two runs."""

import pytest

from harness.cli import main
from reports.load import load_runs
from reports.markdown import build_report
from reports.plots import reward_gap_frame
from tests.reports.fixtures import write_run


def md_table(text: str, heading: str) -> list[list[str]]:
    """Cells of the first Markdown table after the line starting with ``heading`` (header row first)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            if not set(line) <= set("|:- "):
                rows.append([c.strip() for c in line.strip("|").split("|")])
        elif rows:
            break
    return rows


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("rep") / "runA")


@pytest.fixture(scope="module")
def report(run_dir):
    return build_report([run_dir])


def test_headline_table_cells_and_provenance(report):
    rows = md_table(report[0], "## Suite `shapes`")
    assert rows == [
        ["method", "n", "edit_success ↑", "preservation ↑", "seed", "train steps", "edit steps", "git", "config"],
        ["copy (lower bound)", "2", "0.000", "1.000", "3", "-", "-", "0123456789", "cafe1234"],
        ["npedit", "2", "0.500", "0.625", "3", "300", "4", "0123456789", "cafe1234"],
    ]


def test_per_category_table_has_macro(report):
    rows = md_table(report[0], "### `preservation` per category")
    assert rows[0] == ["method", "color_alter", "subject-remove", "macro"]
    assert rows[2] == ["npedit", "0.500", "0.750", "0.625"]


def test_breakdown_by_composition(report):
    rows = md_table(report[0], "### `edit_success` by `composition`")
    assert rows == [["method", "n", "held_out", "seen"], ["copy (lower bound)", "2", "0.000", "0.000"],
                    ["npedit", "2", "1.000", "0.000"]]


def test_parse_failures_and_judge_are_reported(report):
    fails = md_table(report[0], "### Judge replies that did not parse, suite `judged`")
    assert fails == [["method", "n", "parsed", "failed", "failure rate", "mean retries"],
                     ["npedit", "3", "2", "1", "0.333", "1.000"]]
    judge = md_table(report[0], "### Judge of suite `judged`")
    assert judge[1][:4] == ["npedit", "tiny-1", "viescore", "1"] and "own-viescore-v1" in judge[1]
    # the unparsed reply is left out of the mean, never filled in: (6 + 4) / 2
    assert md_table(report[0], "## Suite `judged`")[1][:3] == ["npedit", "3", "5.000"]
    assert "parse_ok" not in report[0].split("## Suite `judged`")[1].split("###")[0]  # not a metric column


def test_latex_holds_the_same_tables(report):
    tex = report[1]
    assert r"\begin{tabular}" in tex and r"\toprule" in tex and r"edit\_success $\uparrow$" in tex
    assert r"copy (lower bound) & 2 & 0.000 & 1.000 & 3 & - & - & 0123456789 & cafe1234 \\" in tex
    assert r"\label{tab:judged-parse}" in tex


def test_reward_gap_is_judge_reward_minus_oracle(run_dir):
    gap = reward_gap_frame(load_runs([run_dir]))
    assert gap["step"].tolist() == [2, 4]  # step 0 has no training reward before it
    assert gap["judge_reward"].tolist() == pytest.approx([0.7, 0.95])
    assert gap["gap"].tolist() == pytest.approx([0.45, 0.75])


def test_figures_are_written_and_linked(run_dir, report):
    for name in ("categories_shapes.png", "training_curves.png", "compute_curves.png", "reward_gap.png"):
        assert (run_dir / name).stat().st_size > 0 and f"({name})" in report[0]


def test_merge_of_two_runs_through_the_cli(tmp_path):
    a, b = write_run(tmp_path / "runA", judged=False), write_run(tmp_path / "runB", seed=7, judged=False)
    assert main(["report", str(a), str(b)]) == 0
    rows = md_table((a / "report.md").read_text(), "## Suite `shapes`")
    assert rows[0][:2] == ["method", "n"] and "run" in rows[0]
    by_method = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    # npedit is in both runs: renamed per run, each row with its own seed; copy clashes too
    assert by_method["runA/npedit"]["seed"] == "3" and by_method["runB/npedit"]["seed"] == "7"
    assert by_method["runB/npedit"]["train steps"] == "300" and by_method["runB/npedit"]["run"] == "runB"
    assert "runA/copy (lower bound)" in by_method
    assert (a / "report.tex").exists() and not (b / "report.md").exists()
    gap = reward_gap_frame(load_runs([a, b]))
    assert set(gap["method"]) == {"runA/npedit", "runB/npedit"}


def test_report_of_a_non_run_directory_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "scores.jsonl" in capsys.readouterr().err


def test_reward_trend_compares_first_and_last_fifth(tmp_path):
    import json

    from reports.stats import t_quantile_975
    from reports.tables import reward_trend

    run = write_run(tmp_path / "runT", judged=False)
    rewards = [0.2, 0.3, 0.5, 0.5, 0.6, 0.4, 0.7, 0.6, 0.8, 0.9]
    rows = [{"event": "train", "method": "flow_grpo", "step": 10 * (i + 1), "reward": r} for i, r in enumerate(rewards)]
    with (run / "metrics.jsonl").open("a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    trend = reward_trend(load_runs([run])).set_index("method")
    assert "npedit" not in trend.index  # 4 logged points: too few for two fifths of >= 2
    row = trend.loc["flow_grpo"]
    assert row["reward first fifth"] == pytest.approx(0.25) and row["reward last fifth"] == pytest.approx(0.85)
    assert row["change"] == pytest.approx(0.6)
    half = t_quantile_975(2) * (0.005 / 2 + 0.005 / 2) ** 0.5  # sample variance of both pairs is 0.005
    assert row["change 95% CI"] == f"[{0.6 - half:.3f}, {0.6 + half:.3f}]"
    assert (row["first fifth (steps)"], row["last fifth (steps)"]) == ("10-20", "90-100")
    assert "### Training reward, first against last fifth" in build_report([run])[0]


def test_curve_reward_starts_after_the_identity_warmup(tmp_path):
    import json

    from reports.tables import curve_reward

    run = write_run(tmp_path / "runC", judged=False)
    rows = [{"event": "train", "method": "flow_grpo", "step": s, "loss_identity": 0.1} for s in (10, 20, 30)]
    rows += [{"event": "train", "method": "flow_grpo", "step": s, "reward": 0.3} for s in (40, 50)]
    rows += [{"event": "curve", "method": "flow_grpo", "step": s, "eval_judge_reward": r}
             for s, r in ((0, 0.2), (20, 0.35), (40, 0.4), (60, 0.55))]
    with (run / "metrics.jsonl").open("a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    row = curve_reward(load_runs([run])).set_index("method").loc["flow_grpo"]
    # the warm-up's last logged step is 30: the first curve point at or after it is step 40
    assert row["step 0"] == pytest.approx(0.2) and row["after warm-up (step)"] == 40
    assert row["after warm-up"] == pytest.approx(0.4) and row["last (step)"] == 60
    assert row["change since warm-up"] == pytest.approx(0.15)
    assert "### Judge reward on the held-fixed curve samples" in build_report([run])[0]


def test_strict_success_leads_the_headline_and_the_compute_curves(tmp_path):
    from reports.plots import at_equal_budget
    from reports.tables import headline
    from tests.reports.fixtures import _jsonl, score

    run = write_run(tmp_path / "run", judged=False)
    rows = [score("npedit", "method", f"s{i}", "color_alter", edit_success=1.0, preservation=p, success_all=p)
            for i, p in enumerate([1.0, 0.0])]
    _jsonl(run / "scores.jsonl", rows)
    curve = [{"event": "curve", "method": "npedit", "step": s, "wall_seconds": float(s), "nfe": s,
              "eval_edit_success": 0.5, "eval_success_all": a} for s, a in ((0, 0.0), (2, 0.25))]
    _jsonl(run / "metrics.jsonl", curve)
    runs = load_runs([run])
    assert list(headline(runs, "shapes").columns)[:2] == ["n", "success_all ↑"]
    equal = at_equal_budget(runs)
    assert "eval_success_all" in equal and equal["eval_success_all"].iloc[0] == 0.25
