"""What the command line asks of the embedded models: ``prepare`` and ``probe``. The CLI reaches the
embedded package only through these two functions; runs reach it through the registry
(generator ``embedded``, scorer ``tiny``)."""

from __future__ import annotations

from typing import Any

PROBES = ("teacher", "judge", "editor")


def prepare(cfg: Any, force: bool = False, world_only: bool = False, log=print) -> None:
    """The world's data card, then the teacher and the judge, trained in parallel (or installed shipped);
    the editor initialisation follows the teacher in its worker."""
    from harness.embedded.prepare import prepare_models, prepare_world

    card = prepare_world(cfg.run.world)
    log(f"world ready: {card['path']}")
    if not world_only:
        seconds = prepare_models(cfg.run.teacher, cfg.run.judge, cfg.run.editor, force=force)
        log(f"models ready: teacher and editor ({seconds['teacher']} s), judge ({seconds['judge']} s)")


def editor_folder(cfg: Any, force: bool = False):
    """The cached editor initialisation for the run's teacher and ``editor.*`` config."""
    from harness.embedded.generator import EmbeddedGenerator

    return EmbeddedGenerator(cfg.run.teacher, cfg.run.editor).editor_folder(force=force)


def probe(cfg: Any, what: str) -> dict:
    """``probe teacher|judge``: the measurement as a JSON-able dict."""
    from harness.embedded.probes import probe_judge, probe_teacher
    from harness.embedded.teacher import load_or_train_teacher

    if what not in PROBES:
        raise ValueError(f"probe: unknown model {what!r}; allowed: {', '.join(PROBES)}")
    p = cfg.run.probe
    if what == "editor":
        from harness.embedded.editor_probe import probe_editor
        from harness.models.edit_model import EditModel

        return probe_editor(EditModel.from_pretrained(editor_folder(cfg)), n=p.n, seed=p.seed)
    teacher = load_or_train_teacher(cfg.run.teacher)
    if what == "teacher":
        return probe_teacher(teacher, n=p.n, steps=p.steps, cfg_scale=p.cfg_scale, seed=p.seed)
    from harness.embedded.judge.scorer import TinyJudgeScorer

    return probe_judge(TinyJudgeScorer(cfg.run.judge), teacher, n=p.n, seed=p.seed)
