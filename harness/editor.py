"""What every method that trains an editing model shares: the generator's config, where its
initial weights come from (the teacher, or another run: chains), and its export after training."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from harness.models.edit_model import EditModel
from harness.trainer import TrainConfig


@dataclass
class EditorConfig(TrainConfig):
    lr: float = field(default=1e-4, metadata={"ge": 0.0})
    ref_mode: str = field(default="channel", metadata={"choices": ["channel", "token"]})
    inference_steps: int = field(default=4, metadata={"ge": 1})
    # RUN_DIR[:method]: start from the generator another run trained (paper: supervised -> RL / NP-Edit);
    # ":method" names a method trained earlier in this same run (methods=supervised,flow_grpo)
    init_from: Optional[str] = None

    def validate(self) -> None:
        if self.init_from and not self.init_from.startswith(":"):
            run_dir, _ = parse_init_from(self.init_from)
            if not (run_dir / "models").is_dir():
                raise ValueError(f"init_from={self.init_from}: {run_dir}/models does not exist; give the run "
                                 "directory of a run that trained a method (RUN_DIR or RUN_DIR:method)")


def parse_init_from(spec: str) -> tuple[Path, str | None]:
    path, sep, method = spec.rpartition(":") if ":" in Path(spec).name else (spec, "", "")
    return Path(path), (method or None)


def exported_dir(run_dir: Path, method: str) -> Path:
    return Path(run_dir) / "models" / method


def initial_generator(cfg: EditorConfig, teacher: EditModel, run_dir: Path | None = None) -> EditModel:
    """The teacher turned into an editor (new reference inputs at zero), or a chained run's generator."""
    if not cfg.init_from:
        return EditModel.from_teacher(teacher, ref_mode=cfg.ref_mode)
    spec = f"{run_dir}{cfg.init_from}" if cfg.init_from.startswith(":") else cfg.init_from
    run_dir, method = parse_init_from(spec)
    root = run_dir / "models"
    if not root.is_dir():
        raise FileNotFoundError(f"init_from={cfg.init_from}: {root} does not exist; give a run directory of a "
                                "trained method (RUN_DIR or RUN_DIR:method)")
    found = sorted(p.name for p in root.iterdir() if (p / "edit_model.json").exists())
    if method is None:
        if len(found) != 1:
            raise ValueError(f"init_from={cfg.init_from}: the run holds {found or 'no'} generators; "
                             "name one as RUN_DIR:method")
        method = found[0]
    if method not in found:
        raise FileNotFoundError(f"init_from={cfg.init_from}: no generator '{method}' in {root}; found: {found}")
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
    return generator.decode(euler_sample(generator, [s.instruction for s in samples], steps, noise, ref=ref)).cpu()


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
