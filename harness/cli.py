"""``python -m harness {run,prepare,probe,ablate,report,ls}``; everything after the subcommand is key=value.

Examples:
  python -m harness run methods=copy,target output_dir=out
  python -m harness run --config default world.n_eval=70
  python -m harness ls methods
  python -m harness report runs/<id>
  python -m harness ablate objectives seeds=1 output_dir=runs/abl
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from harness import registry

EXIT_USAGE = 2


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="default",
                   help="run preset name in harness/configs/run/ or a YAML path (default: default)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="overrides on the typed config, e.g. methods=copy,target world.resolution=32")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train the chosen methods, edit every suite sample, score and report",
                       description="Train, evaluate and report. Writes config.yaml, provenance.json, metrics.jsonl, "
                                   "outputs/, scores.jsonl, summary.json and report.md into output_dir.")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars (training and evaluation); metrics.jsonl is written all the same")
    _add_config_args(p)
    p = sub.add_parser("prepare", help="build the embedded world and train its teacher and judge into $HARNESS_HOME",
                       description="Build what runs need before training, cached under $HARNESS_HOME by config hash. "
                                   "A second prepare reuses the cache in seconds.")
    p.add_argument("--force", action="store_true", help="rebuild cached models even if they are intact")
    p.add_argument("--world-only", action="store_true", help="build the world data card only, no model training")
    _add_config_args(p)
    p = sub.add_parser("probe", help="measure the embedded teacher or judge; prints a table, writes JSON",
                       description="teacher: caption match and realism of teacher samples under the oracle. "
                                   "judge: held-out accuracy per question type, clean and on noisy images. "
                                   "Writes <what>_probe.json into output_dir.")
    p.add_argument("what", choices=("teacher", "judge", "editor"))
    _add_config_args(p)
    p = sub.add_parser("ablate", help="run an ablation table over seeds; write ablation_<TABLE>.md/.csv/.png",
                       description="Run every row of an ablation table (harness/configs/ablations/<TABLE>.yaml or a "
                                   "YAML path) for each seed as an ordinary run into output_dir/<row>/seed<k>/ "
                                   "(finished runs are skipped), then write the table with 95 % t-intervals beside "
                                   "the paper's numbers. Own keys: seeds=3 (or seeds=0,4,7), output_dir=DIR; "
                                   "method.KEY=V sets KEY in every method of a row that has it (e.g. method.steps=20); "
                                   "every other key=value passes to every run.")
    p.add_argument("table", metavar="TABLE", help="objectives, steps, data, judge, rl, or a table YAML path")
    _add_config_args(p)
    p = sub.add_parser("report", help="rebuild report.md and report.tex from run directories (merges runs)",
                       description="Rebuild RUN_DIR/report.md and report.tex from its result files; "
                                   "extra RUN_DIRs are merged in.")
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    p = sub.add_parser("ls", help="list registered methods, suites, scorers or generators",
                       description="List what the registry knows; plugins that fail to import are shown, not fatal.")
    p.add_argument("group", nargs="?", choices=registry.GROUPS, help="one group (default: all)")
    return parser


def cmd_ls(group: str | None) -> int:
    for g in [group] if group else registry.GROUPS:
        print(f"{g}:")
        status = registry.REGISTRIES[g].status()
        if not status:
            print("  (none registered)")
        for name, source, error in status:
            mark = f"  BROKEN: {error}" if error else ""
            print(f"  {name:<20} [{source}]{mark}")
    return 0


def cmd_prepare(cfg, force: bool, world_only: bool) -> int:
    from harness.embedded import commands

    commands.prepare(cfg, force=force, world_only=world_only)
    return 0


def cmd_probe(cfg, what: str) -> int:
    import json

    from harness.atomic_io import write_json
    from harness.embedded import commands
    from harness.rundir import default_run_dir

    out = Path(cfg.run.output_dir) if cfg.run.output_dir else default_run_dir(f"probe-{what}")
    result = commands.probe(cfg, what)
    path = write_json(out / f"{what}_probe.json", result)
    print(json.dumps(result, indent=2))
    print(f"written: {path}")
    return 0


@contextlib.contextmanager
def _library_bars(enabled: bool) -> Iterator[None]:
    """transformers' and huggingface_hub's own bars ("Loading weights", "Writing model shards") off
    while ``enabled`` is False, restored afterwards (tests run many commands in one process)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    if not enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was and not enabled:
            hf_logging.enable_progress_bar()


def cmd_run(cfg, quiet: bool = False) -> int:
    from harness.runner import run

    with _library_bars(not quiet):
        out = run(cfg, progress=not quiet)
    print(f"run finished: {out}\n  summary: {out / 'summary.json'}\n  report:  {out / 'report.md'}")
    return 0


def cmd_ablate(table: str, preset: str, overrides: list[str]) -> int:
    from harness.ablate import load_table, parse_args, run_table

    abl = load_table(table)
    files = run_table(abl, parse_args(abl, overrides), preset)
    print("ablation written:\n" + "\n".join(f"  {p}" for p in files.values()))
    return 0


def cmd_report(run_dirs: list[Path]) -> int:
    from reports.markdown import write_report

    for d in run_dirs:
        if not (d / "scores.jsonl").exists():
            print(f"error: {d} has no scores.jsonl; give a run directory written by `harness run`", file=sys.stderr)
            return EXIT_USAGE
    path = write_report(run_dirs[0], run_dirs[1:])
    print(f"report written: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "ls":
        return cmd_ls(args.group)
    if args.command == "report":
        return cmd_report(args.run_dirs)

    from harness.config import ConfigError, load_config
    from harness.trainer import NonFiniteError

    try:
        if args.command == "ablate":
            return cmd_ablate(args.table, args.config, args.overrides)
        cfg = load_config(args.config, args.overrides)
        if args.command == "run":
            return cmd_run(cfg, args.quiet)
        if args.command == "probe":
            return cmd_probe(cfg, args.what)
        return cmd_prepare(cfg, args.force, args.world_only)
    except (ConfigError, NonFiniteError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except registry.PluginLoadError as e:
        print(f"error: {e}", file=sys.stderr)  # the message carries the plugin's traceback
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
