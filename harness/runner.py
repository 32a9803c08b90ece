"""``run``: build methods and suites from the registry, train, edit, score, summarise, report."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from harness import registry
from harness.atomic_io import append_jsonl, atomic_write_bytes, atomic_write_text, read_jsonl, write_json
from harness.config import ConfigError, ResolvedConfig
from harness.method import Method, RunContext
from harness.cache import harness_home
from harness.provenance import now, provenance
from harness.rundir import RunDir, default_run_dir, png_bytes
from harness.scorers.questions import TEMPLATES
from harness.suite import aggregate, metric_columns
from harness.trainer import NonFiniteError
from harness.world.dataset import world_hash


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is visible; use device=cpu or device=auto")
    return torch.device(name)


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _barrier() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def _open_run_dir(cfg: ResolvedConfig) -> RunDir:
    path = Path(cfg.run.output_dir) if cfg.run.output_dir else default_run_dir(cfg.run.name)
    run_dir = RunDir(path)
    text = cfg.to_yaml()
    if run_dir.config.exists() and run_dir.config.read_text() != text:
        # Resuming into a directory made by another config would mix incomparable results.
        raise ConfigError(
            f"output_dir={path} already holds a run with a different config.yaml; "
            "choose a new output_dir or delete that directory"
        )
    if is_main_process():
        atomic_write_text(run_dir.config, text)
    return run_dir


def _batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def evaluate(method_name: str, method: Method, suite, run_dir: RunDir, batch_size: int,
             save_images: bool, progress: bool = True) -> int:
    """Edit and score every sample the run has not scored yet; returns how many were scored.

    Every rank edits the same samples (ZeRO-3 needs all ranks in each forward); rank 0 writes."""
    done = run_dir.scored_ids(method_name, suite.name)
    todo = [s for s in suite.samples() if s.id not in done]
    _barrier()  # every rank has read the same scored set before rank 0 appends to it
    main = is_main_process()
    for batch in tqdm(list(_batches(todo, batch_size)), desc=f"{method_name} on {suite.name}", leave=False,
                      disable=not (progress and main)):
        outputs = edit_quantised(method, batch)
        if outputs.shape[0] != len(batch):
            raise RuntimeError(f"method '{method_name}' returned {outputs.shape[0]} images for {len(batch)} samples")
        if not main:
            continue
        if save_images:
            for s in batch:  # the inputs once, for the report's qualitative grid
                src = run_dir.outputs / "_source" / suite.name / f"{s.id}.png"
                if not src.exists():
                    atomic_write_bytes(src, png_bytes(s.source))
        run_dir.save_outputs(method_name, suite.name, [s.id for s in batch], outputs,
                             [{"instruction": s.instruction, "category": s.category} for s in batch],
                             save_images=save_images)
        if save_images:  # e.g. GEdit's own <method>/fullset/<task>/<lang>/<key>.png layout
            suite.write_official(method_name, batch, outputs, run_dir.path)
        df = suite.score(batch, outputs)
        df.insert(0, "role", method.role)
        df.insert(0, "suite", suite.name)
        df.insert(0, "method", method_name)
        # Scores are appended per batch, after the outputs: a killed run resumes here.
        append_jsonl(run_dir.scores, df.to_dict(orient="records"))
    return len(todo)


def edit_quantised(method: Method, samples: list) -> torch.Tensor:
    """The method's edits (targets hidden unless privileged), rounded to 8 bit: what is scored is
    exactly what the PNG holds, so every score can be recomputed from the files."""
    given = samples if method.privileged else [s.without_target() for s in samples]
    with torch.no_grad():
        outputs = method.edit(given).detach().float().cpu()
    return (outputs.clamp(0, 1) * 255).round() / 255


def curve_scores(method: Method, suite, n: int) -> dict[str, float]:
    """Mean suite metrics of the method's edits on the first ``n`` samples (a learning-curve point)."""
    samples = suite.samples()[:n]
    outputs = edit_quantised(method, samples)
    df = suite.score(samples, outputs)
    out = {f"eval_{c}": float(df[c].mean()) for c in metric_columns(df)}
    return {**out, **curve_judge_reward(method, samples, outputs)}


def curve_judge_reward(method: Method, samples: list, outputs: torch.Tensor) -> dict[str, float]:
    """The method's own judge (if it trains with one) on the same held-fixed samples and outputs: a
    reward trend free of the batch-to-batch swings of the training reward, whose prompts change every step."""
    scorer = getattr(method, "scorer", None)
    if scorer is None or not all(getattr(s, "category", "") in TEMPLATES for s in samples):
        return {}
    from harness.scorers.reward import judge_verdicts

    source = torch.stack([s.source for s in samples])
    v = judge_verdicts(scorer, source, outputs, samples)
    return {"eval_judge_reward": float(((v["edit"] + v["identity"]) / 2).mean()),
            "eval_judge_edit": float(v["edit"].mean()), "eval_judge_identity": float(v["identity"].mean())}


def train(name: str, method: Method, ctx: RunContext, progress: bool = True) -> dict:
    """Train one method on its own Engine through the shared Trainer; returns compute used."""
    from harness.engine import Engine, EngineConfig
    from harness.trainer import Trainer

    run = ctx.cfg.run
    engine = Engine(EngineConfig(preset=run.engine, mixed_precision=run.mixed_precision,
                                 grad_accum=method.cfg.grad_accum, max_grad_norm=method.cfg.max_grad_norm,
                                 micro_batch_size=method.cfg.batch_size, cpu=ctx.device.type == "cpu",
                                 tracker=run.tracker, tracker_dir=str(Path(ctx.run_dir) / "trackers")),
                    trained=list(method.trained_models))
    method.setup(engine)
    curve = (lambda: curve_scores(method, ctx.extras["suites"][0], run.curve_samples)) if ctx.extras.get("suites") else None
    compute = Trainer(method, engine, ctx.run_dir, name, seed=run.seed, resume=run.resume, curve=curve,
                      progress=progress, project=run.name).fit()
    method.finish()
    return compute


def write_summary(run_dir: RunDir) -> dict:
    scores = pd.DataFrame(read_jsonl(run_dir.scores))
    summary = aggregate(scores)
    for row in read_jsonl(run_dir.metrics):
        if row.get("event") == "compute" and row.get("method") in summary:
            summary[row["method"]]["compute"] = {k: v for k, v in row.items() if k not in ("event", "method")}
        if row.get("event") == "suite_load":  # what loading skipped, beside every method's numbers
            for entry in summary.values():
                if isinstance(entry.get(row["suite"]), dict):
                    entry[row["suite"]]["load"] = {k: v for k, v in row.items() if k not in ("event", "suite")}
    write_json(run_dir.summary, summary)
    return summary


def run(cfg: ResolvedConfig, progress: bool = True) -> Path:
    """``progress=False`` (``run --quiet``): no progress bars; metrics.jsonl is written all the same."""
    from reports.markdown import write_report  # reports reads files only; imported late to keep CLI light

    device = resolve_device(cfg.run.device)
    torch.manual_seed(cfg.run.seed)
    run_dir = _open_run_dir(cfg)
    main = is_main_process()
    prov = provenance(cfg.hash(), world_hash(cfg.run.world), cfg.run.engine, str(device))
    if run_dir.provenance.exists():
        prov["resumed"] = True
    if main:
        write_json(run_dir.provenance, prov)

    ctx = RunContext(cfg=cfg, run_dir=run_dir.path, home=harness_home(), device=device)
    suites = [registry.suites.load(name)(ctx) for name in cfg.run.suites]
    for suite in suites:  # load now: a bad benchmark folder fails before any training
        suite.samples()
        report = suite.load_report()
        if main and report:
            run_dir.log_metrics({"event": "suite_load", "suite": suite.name, **report})
    ctx.extras["suites"] = suites
    for name in cfg.rows:
        method_cls = registry.methods.load(name)
        method: Method = method_cls(cfg.methods.get(name), ctx, name=name)
        try:
            compute = train(name, method, ctx, progress) if method.trainable else {"wall_seconds": 0.0}
        except NonFiniteError:  # the method stopped: what was scored so far stays summarised
            if main and read_jsonl(run_dir.scores):
                write_summary(run_dir)
            raise
        for suite in suites:
            if name not in cfg.run.methods and method.privileged and any(x.target is None for x in suite.samples()):
                # an implicit calibration row (the true target) has nothing to return on a benchmark
                # without targets; named in methods= it still fails loudly
                if main:
                    run_dir.log_metrics({"event": "skip", "method": name, "suite": suite.name,
                                         "reason": "calibration bound needs targets; the suite has none"})
                continue
            start = time.perf_counter()
            n = evaluate(name, method, suite, run_dir, cfg.run.eval_batch_size, cfg.run.save_images, progress)
            if main:
                run_dir.log_metrics({"event": "eval", "method": name, "suite": suite.name, "scored": n,
                                     "seconds": round(time.perf_counter() - start, 3)})
        if main:
            run_dir.log_metrics({"event": "compute", "method": name, **compute})

    if main:
        write_summary(run_dir)
        write_report(run_dir.path)
        prov["end_time"] = now()
        write_json(run_dir.provenance, prov)
    _barrier()
    from harness.engine import shutdown_distributed

    shutdown_distributed()
    return run_dir.path
