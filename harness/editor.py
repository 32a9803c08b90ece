"""What every method that trains an editing model shares: the generator's config, where its
initial weights come from (the teacher, or another run: chains), and its export after training."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.method import Method
from harness.models.edit_model import EditModel
from harness.trainer import TrainConfig


@dataclass
class EditorConfig(TrainConfig):
    lr: float = field(default=1e-4, metadata={"ge": 0.0})
    inference_steps: int = field(default=4, metadata={"ge": 1})
    # RUN_DIR[:method]: start from the generator another run trained (paper: supervised -> RL / NP-Edit);
    # ":method" names a method trained earlier in this same run (methods=supervised,flow_grpo)
    init_from: str | None = None
    # EMA of the generator's weights (diffusers EMAModel, with its (1+n)/(10+n) warm-up); 0 = off.
    # With it on, learning-curve points, the final evaluation and the export use the averaged weights.
    ema_decay: float = field(default=0.0, metadata={"ge": 0.0, "lt": 1.0})

    def validate(self) -> None:
        if self.init_from and not self.init_from.startswith(":"):
            run_dir, _ = parse_init_from(self.init_from)
            if not (run_dir / "models").is_dir():
                raise ValueError(f"init_from={self.init_from}: {run_dir}/models does not exist; give the run "
                                 "directory of a run that trained a method (RUN_DIR or RUN_DIR:method)")


class GeneratorEMA:
    """EMA of a generator's trained parameters, checkpointed by the method as safetensors.
    ``applied()`` swaps the averaged weights in for editing and back out; ``finalize()`` keeps them."""

    PREFIX = "generator_ema."

    def __init__(self, engine: Any, model: EditModel, decay: float):
        from diffusers.training_utils import EMAModel

        if getattr(engine, "deepspeed", False) and engine.cfg.preset == "zero3":
            raise ValueError("ema_decay > 0 needs the full generator on every rank; ZeRO-3 shards it. "
                             "Use engine=zero2 (or lower), or ema_decay=0")
        self.params = list(model.trainable_parameters())
        self.ema = EMAModel(self.params, decay=decay)
        self.final = False

    def step(self) -> None:
        self.ema.step(self.params)

    @contextmanager
    def applied(self):
        if self.final:  # the average already is the generator's weights
            yield
            return
        self.ema.store(self.params)
        self.ema.copy_to(self.params)
        try:
            yield
        finally:
            self.ema.restore(self.params)

    def finalize(self) -> None:
        """Training is over: the averaged weights become the generator's (export, evaluation)."""
        self.ema.copy_to(self.params)
        self.final = True

    def state_dict(self) -> dict[str, torch.Tensor]:
        out = {f"{self.PREFIX}{i}": p for i, p in enumerate(self.ema.shadow_params)}
        out[f"{self.PREFIX}step"] = torch.tensor(self.ema.optimization_step)
        return out

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        shadow = [state[f"{self.PREFIX}{i}"] for i in range(len(self.params)) if f"{self.PREFIX}{i}" in state]
        if not shadow:
            return  # a checkpoint from before EMA was turned on: start averaging from here
        if len(shadow) != len(self.params) or any(a.shape != b.shape for a, b in zip(shadow, self.params)):
            raise ValueError("checkpoint's generator EMA does not match the generator's parameters")
        self.ema.shadow_params = [s.to(p.device, p.dtype) for s, p in zip(shadow, self.params)]
        self.ema.optimization_step = int(state[f"{self.PREFIX}step"])


class GeneratorMethod(Method):
    """Base of the methods that train one editing generator (supervised, Flow-GRPO, NP-Edit): its
    optimizer step with the optional EMA, the EMA's checkpoint tensors, the weights editing uses,
    and the export after training."""

    ema: GeneratorEMA | None = None

    def prepare_generator(self, engine: Any, generator: EditModel, lr: float, betas=(0.9, 0.999)):
        gen = prepare_generator(engine, "generator", generator, lr, betas)
        decay = getattr(self.cfg, "ema_decay", 0.0)
        self.ema = GeneratorEMA(engine, generator, decay) if decay > 0 else None
        return gen

    def warmup_steps(self) -> int:
        """Identity warm-up steps (NP-Edit §1.6); none for a chained generator, which already edits."""
        cfg = self.cfg
        return 0 if getattr(cfg, "init_from", None) else int(getattr(cfg, "identity_warmup", 0))

    def identity_step(self, ref: torch.Tensor, instructions) -> dict[str, float]:
        """One warm-up update: flow matching (t ~ U[0, 1]) toward the reference itself, so the editor
        learns to carry the source through before the method's own objective starts."""
        from harness.models.losses import uniform_flow_matching_loss

        loss = uniform_flow_matching_loss(self.gen, ref, instructions, ref=ref)
        self.engine.backward("generator", loss)
        self.step_generator(lr=getattr(self.cfg, "identity_warmup_lr", None))
        self.count("nfe", ref.shape[0])
        return {"loss_identity": float(loss.detach())}

    def step_generator(self, lr: float | None = None) -> bool:
        """Optimizer step at ``lr`` (default: the method's ``lr``). Set on every step, not once per phase,
        so a run resumed from a warm-up checkpoint does not keep the warm-up rate its optimizer saved."""
        self.engine.set_lr("generator", self.cfg.lr if lr is None else lr)
        changed = self.engine.step("generator")
        if changed and self.ema is not None:
            self.ema.step()
        return changed

    def snapshot(self) -> list[torch.Tensor] | None:
        """The trained weights before a step, for ``update_stats`` (None under ZeRO-3, which shards them)."""
        if getattr(self.engine, "deepspeed", False) and self.engine.cfg.preset == "zero3":
            return None
        return [p.detach().clone() for p in self.gen.bare.trainable_parameters()]

    def update_stats(self, before: list[torch.Tensor] | None) -> dict[str, float]:
        """How much the last step moved the generator: the gradient norm the engine saw (before clipping)
        and the norm of the parameter change, so a flat curve can be told from a frozen one."""
        out = {}
        norm = getattr(self.engine, "grad_norms", {}).get("generator")
        if norm is not None:
            out["grad_norm"] = norm
        if before is not None:
            now = self.gen.bare.trainable_parameters()
            out["update_norm"] = float(torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(now, before))))
        return out

    def editing_weights(self):
        """Context in which ``edit`` runs: the EMA weights when enabled."""
        return self.ema.applied() if self.ema is not None else nullcontext()

    def finish(self) -> None:
        if self.ema is not None:
            self.ema.finalize()
        export_generator(self.engine, "generator", self.gen.bare, self.ctx.run_dir, self.name)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.ema.state_dict() if self.ema is not None else {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if self.ema is not None:
            self.ema.load_state_dict(state)


def parse_init_from(spec: str) -> tuple[Path, str | None]:
    path, sep, method = spec.rpartition(":") if ":" in Path(spec).name else (spec, "", "")
    return Path(path), (method or None)


def exported_dir(run_dir: Path, method: str) -> Path:
    return Path(run_dir) / "models" / method


def initial_generator(cfg: EditorConfig, family: Any, run_dir: Path | None = None) -> EditModel:
    """The run's generator family's initial editor, or a chained run's generator (``init_from``)."""
    if not cfg.init_from:
        return family.initial_editor()
    spec = f"{run_dir}{cfg.init_from}" if cfg.init_from.startswith(":") else cfg.init_from
    run_dir, method = parse_init_from(spec)
    root = run_dir / "models"
    if not root.is_dir():
        raise FileNotFoundError(f"init_from={cfg.init_from}: {root} does not exist; give a run directory of a "
                                "trained method (RUN_DIR or RUN_DIR:method)")
    # an embedded generator (edit_model.json) or a real family's export (harness_generator.json: its LoRA)
    found = sorted(p.name for p in root.iterdir() if (p / "edit_model.json").exists()
                   or (p / "harness_generator.json").exists())
    if method is None:
        if len(found) != 1:
            raise ValueError(f"init_from={cfg.init_from}: the run holds {found or 'no'} generators; "
                             "name one as RUN_DIR:method")
        method = found[0]
    if method not in found:
        raise FileNotFoundError(f"init_from={cfg.init_from}: no generator '{method}' in {root}; found: {found}")
    if (root / method / "harness_generator.json").exists():
        if not hasattr(family, "load_editor"):
            raise ValueError(f"init_from={cfg.init_from}: {root / method} is a real family's export; this run's "
                             "generator family cannot load it (use the same generator= as that run)")
        return family.load_editor(root / method)
    return EditModel.from_pretrained(root / method)


def trainable(model: EditModel) -> EditModel:
    """Freeze everything but the parts the model trains (its transformer; not the text encoder/VAE)."""
    model.requires_grad_(False)
    for p in model.trainable_parameters():
        p.requires_grad_(True)
    return model


def prepare_generator(engine: Any, name: str, generator: EditModel, lr: float, betas=(0.9, 0.999)):
    """AdamW on the trainable parameters, wrapped by the engine; returns the sampler-facing model."""
    from harness.models.trained import Trained

    trainable(generator)
    opt = torch.optim.AdamW(generator.trainable_parameters(), lr=lr, betas=tuple(betas), weight_decay=0.0)
    return Trained(engine.prepare(name, generator, opt), generator)


@torch.no_grad()
def euler_edit(generator, samples, steps: int, seed: int, device) -> torch.Tensor:
    """Edit with the Euler ODE from seeded noise, conditioned on the source (supervised, Flow-GRPO)."""
    from harness.models.samplers import euler_sample

    ref = generator.encode_image(torch.stack([s.source for s in samples]).to(device))
    noise = torch.randn(ref.shape, generator=torch.Generator().manual_seed(seed)).to(ref.device)
    # a real family walks its own scheduler's sigmas (dynamic shift, terminal stretch); the embedded models a uniform grid
    sigmas = generator.sigmas(steps, ref.shape) if hasattr(generator, "sigmas") else None
    x = euler_sample(generator, [s.instruction for s in samples], steps, noise, ref=ref, sigmas=sigmas)
    return generator.decode(x).cpu()


def export_generator(engine: Any, name: str, model: EditModel, run_dir: Path, method: str) -> Path | None:
    """Save the trained generator (gathered full weights under ZeRO-3) for chains and inspection."""
    import shutil

    state = engine.state_dict(name)
    out = exported_dir(run_dir, method)
    if engine.is_main:
        model.load_state_dict(state)
        tmp = out.with_name(f".{out.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)  # a whole folder, then one rename: never half-written
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    engine.wait()
    return out
