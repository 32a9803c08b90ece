"""Fault injection for the kill-and-resume tests: a child process that runs ``harness.cli.main`` and
SIGKILLs itself at a chosen moment of the run (no cleanup, no atexit, no flush: as a preemption does).

Children are forked from a forkserver that has imported the harness once, so each costs a fork, not a
fresh interpreter; they are separate OS processes all the same."""

from __future__ import annotations

import os
import signal

POINTS = ("train", "between_methods", "before_eval", "scoring", "report")


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str, method: str) -> None:
    """Patch the run so that it kills itself at ``point`` of ``method``."""
    from harness import runner, trainer

    if point == "train":  # mid-training, after a checkpoint, before the next one
        orig_step = trainer.Trainer._step

        def _step(self, step, wall, bar):
            if self.name == method and step == 3:
                _die()
            return orig_step(self, step, wall, bar)

        trainer.Trainer._step = _step
    elif point == "between_methods":  # the bounds are scored, the method has not started
        orig_train = runner.train

        def train(name, *a, **k):
            if name == method:
                _die()
            return orig_train(name, *a, **k)

        runner.train = train
    elif point == "before_eval":  # trained and exported, nothing of it scored
        orig_eval = runner.evaluate

        def evaluate(name, *a, **k):
            if name == method:
                _die()
            return orig_eval(name, *a, **k)

        runner.evaluate = evaluate
    elif point == "scoring":  # the second batch's PNGs and outputs.jsonl rows written, its scores not
        orig_append = runner.append_jsonl
        seen = []

        def append_jsonl(path, rows):
            rows = list(rows)
            if str(path).endswith("scores.jsonl") and rows and rows[0].get("method") == method:
                seen.append(1)
                if len(seen) == 2:
                    _die()
            return orig_append(path, rows)

        runner.append_jsonl = append_jsonl
    elif point == "report":  # summary.json written, the report half-built
        import reports.markdown as md

        orig_write = md.write_report

        def write_report(*a, **k):
            from harness import atomic_io

            atomic_io.atomic_write_text(os.path.join(str(a[0]), "report.md"), "# half a report\n")
            _die()
            return orig_write(*a, **k)

        md.write_report = write_report
    else:
        raise ValueError(f"unknown kill point {point!r}; known: {', '.join(POINTS)}")


def child(argv: list[str], env: dict, threads: int, point: str | None, method: str) -> None:
    """Forkserver child: set the environment, arm the kill point, run the CLI; exit with its code."""
    os.environ.update(env)
    import torch

    torch.set_num_threads(threads)
    if point:
        arm(point, method)
    from harness.cli import main

    code = main(argv)
    os._exit(code)
