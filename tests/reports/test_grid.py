"""The report's sample grid: a header row (source, each method, target) and each row's instruction."""

import json

import numpy as np
from PIL import Image

from reports import plots
from reports.load import load_runs
from reports.markdown import build_report
from tests.reports.fixtures import _jsonl, score, write_run

INSTRUCTIONS = {"s1": "turn the green square blue", "s2": "remove the cyan circle and keep everything else as it is"}


def _png(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(path)


def write_outputs(run_dir, methods=("copy", "npedit", "target")):
    """PNG outputs of every method (the upper bound 'target' last in the scores) and the sources."""
    rows = []
    for k, m in enumerate(methods):
        for sid, cat in (("s1", "color_alter"), ("s2", "subject-remove")):
            rel = f"outputs/{m}/shapes/{sid}.png"
            _png(run_dir / rel, 40 * k)
            rows.append({"method": m, "suite": "shapes", "sample_id": sid, "path": rel, "sha256": "0",
                         "instruction": INSTRUCTIONS[sid], "category": cat})
    for sid in INSTRUCTIONS:
        _png(run_dir / "outputs" / "_source" / "shapes" / f"{sid}.png", 200)
    _jsonl(run_dir / "outputs" / "outputs.jsonl", rows)
    scores = [json.loads(line) for line in (run_dir / "scores.jsonl").read_text().splitlines()]
    scores.append(score("target", "upper bound", "s1", "color_alter", edit_success=1.0, preservation=1.0))
    _jsonl(run_dir / "scores.jsonl", scores)
    return run_dir


def test_grid_has_a_header_row_and_instruction_labels(tmp_path, monkeypatch):
    run_dir = write_outputs(write_run(tmp_path / "runA", judged=False))
    drawn = {}
    save = plots._save

    def keep(fig, path):
        titles = [ax.get_title(loc) for ax in fig.axes for loc in ("left", "center", "right")]
        drawn["texts"] = titles + [t.get_text() for ax in fig.axes for t in ax.texts]
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    path, columns = plots.qualitative_grid(load_runs([run_dir]), "shapes", tmp_path / "grid.png")
    assert columns == ["source", "copy", "npedit", "target"]  # the upper bound's outputs are the target column
    texts = " ".join(drawn["texts"]).replace("\n", " ")
    for label in ("instruction", *columns, "turn the green square blue", "(color_alter)", "remove the cyan circle"):
        assert label in texts, label
    w, h = Image.open(path).size
    assert w > h > 0


def test_report_names_the_grid_columns(tmp_path):
    run_dir = write_outputs(write_run(tmp_path / "runA", judged=False))
    md, _ = build_report([run_dir])
    assert "Columns: source, copy, npedit, target." in md and "(grid_shapes.png)" in md
