"""``report.md`` (and ``report.tex``) from the run files alone: headline table with provenance,
per-category tables, judge and parse-failure stats, figures.

``python -m harness report RUN_DIR [RUN_DIR ...]`` rebuilds them; several run directories are
merged into one report (method names are prefixed by their run when they collide), written into
the first one.
"""

from __future__ import annotations

from pathlib import Path

from harness.atomic_io import atomic_write_text
from reports import latex, plots, tables
from reports.load import RunSet, load_runs

CALIBRATION_NOTE = ("Calibration rows: `copy (lower bound)` returns the source unchanged; `target (upper bound)` "
                    "returns the true target and is privileged (it reads eval targets). Every method lies between them.")


def _suites(runs: RunSet) -> list[str]:
    return list(dict.fromkeys(runs.scores["suite"])) if not runs.scores.empty else []


def _md(df, **kw) -> str:
    return df.to_markdown(floatfmt=".3f", **kw) + "\n"


def suite_sections(runs: RunSet, suite: str) -> tuple[list[str], list[str]]:
    """(Markdown parts, LaTeX parts) for one suite."""
    md, tex = [], []
    head = tables.headline(runs, suite)
    md += [f"## Suite `{suite}`: every metric (micro mean over samples)\n", _md(head)]
    tex.append(latex.table(head, f"Suite {suite}: every metric, micro mean over samples", f"tab:{suite}-headline"))
    judge = tables.judge_labels(runs, suite)
    if not judge.empty:
        md += [f"### Judge of suite `{suite}`\n", "Which judge, protocol and template produced these numbers.\n",
               _md(judge)]
        tex.append(latex.table(judge, f"Suite {suite}: judge, protocol and template", f"tab:{suite}-judge"))
    fails = tables.parse_failures(runs, suite)
    if not fails.empty:
        md += [f"### Judge replies that did not parse, suite `{suite}`\n",
               "Aggregates use parsed samples only; failures are counted, never filled in.\n", _md(fails)]
        tex.append(latex.table(fails, f"Suite {suite}: judge parse failures", f"tab:{suite}-parse"))
    for (tag, metric), table in tables.per_breakdown(runs, suite).items():
        md += [f"### `{metric}` by `{tag}` (micro mean over samples)\n", _md(table)]
        tex.append(latex.table(table, f"Suite {suite}: {metric} by {tag}", f"tab:{suite}-{metric}-{tag}"))
    for metric, by_cat in tables.per_category(runs, suite).items():
        md += [f"### `{metric}` per category (macro = mean over categories)\n", _md(by_cat)]
        tex.append(latex.table(by_cat, f"Suite {suite}: {metric} per category (macro = mean over categories)",
                               f"tab:{suite}-{metric}"))
    return md, tex


def figures(runs: RunSet, out_dir: Path) -> list[str]:
    """Plots and grids written next to report.md and linked from it."""
    out = []
    for suite in _suites(runs):
        path = plots.category_bars(runs, suite, out_dir / f"categories_{suite}.png")
        if path:
            out += [f"## Per-category results, suite `{suite}`", "",
                    "Bars: mean over samples; whiskers: 95 % bootstrap interval over samples.", "",
                    f"![{suite} per category]({path.name})", ""]
    path = plots.training_curves(runs, out_dir / "training_curves.png")
    if path:
        out += ["## Training curves", "", ("Points: logged training batches; line: their rolling mean. "
                                           "`oracle eval_edit_success` and `judge eval_reward`: the learning-curve "
                                           "eval samples."), "",
                f"![training curves]({path.name})", ""]
        reward_tables = [
            ("Training reward, first against last fifth of the logged steps", tables.reward_trend(runs),
             "The judge's reward on each training batch (P of the correct answer); the interval is "
             "Welch's over the logged batches of the two fifths."),
            ("Judge reward on the held-fixed curve samples", tables.curve_reward(runs),
             "The same judge, questions and reward on the learning-curve eval samples (fixed sources, "
             "instructions and noise), so the trend does not swing with each batch's prompts."),
        ]
        for title, df, text in reward_tables:
            if not df.empty:
                out += [f"### {title}", "", text, "", df.to_markdown(index=False, floatfmt=".3f"), ""]
    path = plots.compute_curves(runs, out_dir / "compute_curves.png")
    if path:
        out += ["## Oracle success against compute", "",
                ("Every method on one axis: strict success (`success_all`: the edit done, nothing else changed, "
                 "cleanly) where the suite scores it, else edit success. Learning-curve points score the first "
                 "eval samples during training; their time is not counted as training time."), "",
                f"![compute curves]({path.name})", ""]
        equal = plots.at_equal_budget(runs)
        if not equal.empty:
            out += ["### At the smallest shared budget", "", equal.to_markdown(index=False, floatfmt=".3f"), ""]
    gap = plots.reward_gap(runs, out_dir / "reward_gap.png")
    if gap:
        path, frame = gap
        last = frame.sort_values("step").groupby("method", sort=False).tail(1)
        out += ["## Training reward against the oracle (reward hacking)", "",
                ("The judge's reward on training batches (its P(correct answer); `reward_edit` where logged) beside "
                 "the oracle's edit success on the learning-curve eval samples. A gap that grows while the reward "
                 "rises means the generator fools the judge rather than editing."), "",
                f"![reward gap]({path.name})", "", "Last curve point per method:", "",
                last.to_markdown(index=False, floatfmt=".3f"), ""]
    for suite in _suites(runs):
        grid = plots.qualitative_grid(runs, suite, out_dir / f"grid_{suite}.png")
        if grid:
            path, columns = grid
            out += [f"## Samples of suite `{suite}`", "", "Columns: " + ", ".join(columns) + ".", "",
                    f"![{suite} samples]({path.name})", ""]
    return out


def _run_lines(runs: RunSet) -> list[str]:
    lines = []
    for name in runs.names:
        prov = runs.provenance.get(name, {})
        lines.append(f"- run `{name}`: git {prov.get('git_sha', 'unknown')}, config {prov.get('config_hash', '?')}, "
                     f"world {prov.get('world_hash', '?')}, engine {prov.get('engine', '?')}, "
                     f"device {prov.get('device', '?')}")
    return lines


def build_report(run_dirs: list[Path]) -> tuple[str, str]:
    """(Markdown, LaTeX) for the runs; figures are written into the first run directory."""
    runs = load_runs([Path(d) for d in run_dirs])
    md = ["# Report", "", *_run_lines(runs), "", CALIBRATION_NOTE, ""]
    tex = []
    if runs.scores.empty:
        md.append("No scores yet.")
    for suite in _suites(runs):
        m, t = suite_sections(runs, suite)
        md.append("\n".join(m))
        tex += t
    md += figures(runs, runs.dirs[0])
    return "\n".join(md) + "\n", latex.document(tex)


def write_report(run_dir: Path, extra_runs: list[Path] | None = None) -> Path:
    """Write report.md and report.tex into ``run_dir``; returns the Markdown path."""
    run_dir = Path(run_dir)
    text, tex = build_report([run_dir, *(extra_runs or [])])
    atomic_write_text(run_dir / "report.tex", tex)
    return atomic_write_text(run_dir / "report.md", text)
