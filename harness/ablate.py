"""``python -m harness ablate TABLE``: run every row of an ablation table over seeds, then write
``ablation_<TABLE>.md|.csv|.png`` into ``output_dir``.

A table is YAML data (``harness/configs/ablations/<TABLE>.yaml`` or a path): rows of methods,
overrides and the paper's row name. Each (row, seed) is an ordinary ``run`` into
``output_dir/<row>/seed<k>/``; a run that already finished with the same config is skipped, an
unfinished one resumes (run directories resume by themselves).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness import registry
from harness.config import CONFIG_DIR, ConfigError, ResolvedConfig, _suggest, load_config, method_config_class

TABLE_DIR = CONFIG_DIR / "ablations"
DEFAULT_SEEDS = 3
# key=value items ablate reads itself; every other item passes through to every run.
OWN_KEYS = ("seeds", "output_dir")
# Set per run by the table and the seed loop, so an override of them would be silently wrong.
FORBIDDEN_KEYS = ("seed", "methods")
EACH_METHOD = "method."  # method.steps=4 -> <m>.steps=4 for every method of a row that has `steps`


@dataclass
class AblationRow:
    label: str
    methods: list[str]
    report: str  # the method whose scores form this row (default: the last one)
    overrides: dict = field(default_factory=dict)
    paper: str | None = None  # the paper's row name, a key of AblationTable.paper_rows


@dataclass
class AblationTable:
    name: str
    title: str
    rows: list[AblationRow]
    metrics: list[str]
    paper_source: str = ""
    paper_scale: str = ""
    paper_metrics: list[str] = field(default_factory=list)
    paper_rows: dict[str, dict] = field(default_factory=dict)
    path: Path | None = None


def known_tables() -> list[str]:
    return sorted(p.stem for p in TABLE_DIR.glob("*.yaml"))


def _table_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.exists():
            raise ConfigError(f"ablation table file {path} does not exist")
        return path
    candidate = TABLE_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    known = known_tables()
    raise ConfigError(f"unknown ablation table '{name_or_path}'; choose one of: {', '.join(known)} "
                      "(or give a table YAML path)." + _suggest(name_or_path, known))


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    return str(v)


def load_table(name_or_path: str) -> AblationTable:
    path = _table_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    where = f"ablation table {path}"
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list) or not data["rows"]:
        raise ConfigError(f"{where}: needs 'rows:', a list of {{label, methods, [report], [overrides], [paper]}}")
    paper = data.get("paper") or {}
    paper_rows = {str(k): dict(v) for k, v in (paper.get("rows") or {}).items()}
    rows, labels = [], set()
    for i, r in enumerate(data["rows"]):
        if not isinstance(r, dict) or "label" not in r or not r.get("methods"):
            raise ConfigError(f"{where}: row {i + 1} needs 'label' and 'methods' (a list of method names)")
        label = str(r["label"])
        unknown = set(r) - {"label", "methods", "report", "overrides", "paper"}
        if unknown:
            raise ConfigError(f"{where}: row '{label}' has unknown keys {sorted(unknown)}; "
                              "allowed: label, methods, report, overrides, paper")
        if label in labels or "/" in label:
            raise ConfigError(f"{where}: row label '{label}' is repeated or contains '/'")
        labels.add(label)
        methods = [str(m) for m in (r["methods"] if isinstance(r["methods"], list) else [r["methods"]])]
        report = str(r.get("report") or methods[-1])
        if report not in methods:
            raise ConfigError(f"{where}: row '{label}': report={report} is not one of its methods {methods}")
        if r.get("paper") is not None and str(r["paper"]) not in paper_rows:
            raise ConfigError(f"{where}: row '{label}': paper row '{r['paper']}' is not under paper.rows; "
                              f"known: {', '.join(paper_rows) or 'none'}")
        rows.append(AblationRow(label, methods, report, dict(r.get("overrides") or {}),
                                None if r.get("paper") is None else str(r["paper"])))
    return AblationTable(name=path.stem, title=str(data.get("title") or path.stem), rows=rows,
                         metrics=[str(m) for m in data.get("metrics") or ["edit_success", "preservation", "realism"]],
                         paper_source=str(paper.get("source") or ""), paper_scale=str(paper.get("scale") or ""),
                         paper_metrics=[str(m) for m in paper.get("metrics") or []], paper_rows=paper_rows, path=path)


# --------------------------------------------------------------------------- arguments


def parse_seeds(value: str) -> list[int]:
    """``seeds=3`` -> [0, 1, 2]; ``seeds=0,4,7`` (or ``[0,4,7]``) -> those seeds."""
    text = value.strip().strip("[]")
    try:
        items = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        items = []
    if "," not in text and len(items) == 1:
        items = list(range(items[0])) if items[0] >= 1 else []
    if not items or min(items) < 0 or len(set(items)) != len(items):
        raise ConfigError(f"seeds={value!r} is not allowed; give a count >= 1 (seeds=3 runs seeds 0,1,2) "
                          "or a list of distinct seeds >= 0 (seeds=0,4,7)")
    return items


@dataclass
class AblateArgs:
    seeds: list[int]
    output_dir: Path
    passthrough: list[str]  # key=value for every run
    each_method: list[tuple[str, str]]  # (key, value) for every method of a row that has key


def parse_args(table: AblationTable, overrides: list[str]) -> AblateArgs:
    seeds, out, passthrough, each = list(range(DEFAULT_SEEDS)), Path("runs") / f"ablate-{table.name}", [], []
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"'{item}': overrides are written key=value (e.g. seeds=1 method.steps=20)")
        if key == "seeds":
            seeds = parse_seeds(value)
        elif key == "output_dir":
            out = Path(value)
        elif key in FORBIDDEN_KEYS:
            raise ConfigError(f"{key}= is set by ablate (the table's rows and seeds=); "
                              f"use seeds=N or seeds=0,4,7, or edit the table {table.path}")
        elif key.startswith(EACH_METHOD):
            each.append((key[len(EACH_METHOD):], value.strip()))
        else:
            passthrough.append(item)
    return AblateArgs(seeds, out, passthrough, each)


def _method_fields(name: str) -> set[str]:
    try:
        cls = registry.methods.load(name)
    except registry.UnknownPluginError as e:
        raise ConfigError(str(e)) from None
    cfg_cls = method_config_class(cls)
    import dataclasses

    return {f.name for f in dataclasses.fields(cfg_cls)} if cfg_cls else set()


def row_overrides(table: AblationTable, row: AblationRow, args: AblateArgs, seed: int, run_dir: Path) -> list[str]:
    extra = [f"{m}.{key}={value}" for key, value in args.each_method
             for m in row.methods if key.split(".")[0] in _method_fields(m)] + args.passthrough
    for item in extra:  # the row's own keys are what the table varies: a table-wide value would erase them
        key = item.partition("=")[0].strip()
        if key in row.overrides:
            raise ConfigError(f"{key} is what row '{row.label}' of table '{table.name}' varies "
                              f"({key}={_value(row.overrides[key])}); it cannot be set for the whole table")
    items = [f"methods={','.join(row.methods)}", f"seed={seed}", f"output_dir={run_dir}"]
    return items + [f"{k}={_value(v)}" for k, v in row.overrides.items()] + extra


# --------------------------------------------------------------------------- planning and running


@dataclass
class PlannedRun:
    row: AblationRow
    seed: int
    run_dir: Path
    cfg: ResolvedConfig


def plan(table: AblationTable, args: AblateArgs, preset: str = "default") -> list[PlannedRun]:
    """Every (row, seed) config, built before anything runs, so a bad row fails in seconds."""
    for key, _ in args.each_method:
        if not any(key.split(".")[0] in _method_fields(m) for r in table.rows for m in r.methods):
            raise ConfigError(f"{EACH_METHOD}{key}: no method of table '{table.name}' has a config key "
                              f"'{key.split('.')[0]}'")
    planned = []
    for seed in args.seeds:  # seed-major: one complete table early, more seeds later
        for row in table.rows:
            run_dir = args.output_dir / row.label / f"seed{seed}"
            try:
                cfg = load_config(preset, row_overrides(table, row, args, seed, run_dir))
            except ConfigError as e:
                raise ConfigError(f"ablation '{table.name}' row '{row.label}': {e}") from None
            planned.append(PlannedRun(row, seed, run_dir, cfg))
    return planned


def is_finished(p: PlannedRun) -> bool:
    """Finished = same config, provenance has an end time, summary written."""
    d = p.run_dir
    try:
        same = (d / "config.yaml").read_text() == p.cfg.to_yaml()
        ended = bool(json.loads((d / "provenance.json").read_text()).get("end_time"))
    except (OSError, ValueError):
        return False
    return same and ended and (d / "summary.json").exists()


def run_table(table: AblationTable, args: AblateArgs, preset: str = "default", log=print) -> dict[str, Path]:
    """Run (or skip) every planned run, then write the ablation files; returns them by suffix."""
    from harness.runner import run
    from reports.ablation import write_ablation

    planned = plan(table, args, preset)
    start = time.perf_counter()
    for i, p in enumerate(planned, 1):
        tag = f"[{i}/{len(planned)}] {table.name} row '{p.row.label}' seed {p.seed}"
        if is_finished(p):
            log(f"{tag}: finished earlier, skipped ({p.run_dir})")
            continue
        t0 = time.perf_counter()
        try:
            run(p.cfg)
        except ConfigError as e:  # e.g. the directory holds this row's run under another config
            raise ConfigError(f"ablation '{table.name}' row '{p.row.label}' seed {p.seed}: {e}") from None
        log(f"{tag}: done in {time.perf_counter() - t0:.1f} s ({p.run_dir})")
    files = write_ablation(table, [(p.row, p.seed, p.run_dir) for p in planned], args.output_dir)
    log(f"ablation '{table.name}': {len(planned)} runs, {time.perf_counter() - start:.1f} s wall")
    return files
