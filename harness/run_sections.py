"""Run-level sections every method of a run shares (a fair comparison uses one generator, one judge and
one data set): ``generator.*``, ``scorer.*``, ``data.*``.

``generator=NAME`` and ``scorer=NAME`` are shorthands for ``generator.name=NAME`` / ``scorer.name=NAME``
(the CLI and YAML presets accept both), so ``generator=flux_kontext generator.path=DIR`` reads naturally.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHORTHAND_SECTIONS = ("generator", "scorer")
DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class GeneratorConfig:
    """``generator.*``: the generator family (registry group ``generators``) and how it is loaded and trained."""

    name: str = "embedded"  # embedded | flux_kontext | qwen_image_edit | a plugin
    path: str | None = None  # local folder in the family's official pipeline layout (never downloaded)
    resolution: int | None = field(default=None, metadata={"ge": 16})  # px; default world.resolution
    dtype: str = field(default="float32", metadata={"choices": list(DTYPES)})  # the frozen base's weights
    gradient_checkpointing: bool = False  # transformer and VAE decoder (needed at 512 px on one GPU)
    # LoRA on one shared base (peers: rank 64, alpha 128, gaussian init); 0 = full fine-tuning (separate copies)
    lora_rank: int = field(default=64, metadata={"ge": 0})
    lora_alpha: float = field(default=128.0, metadata={"ge": 0.0})
    lora_targets: list[str] = field(default_factory=list)  # [] = the family's default target modules
    lora_dropout: float = field(default=0.0, metadata={"ge": 0.0, "lt": 1.0})
    guidance: float | None = field(default=None, metadata={"ge": 0.0})  # Kontext guidance embedding; None = 2.5
    max_sequence_length: int = field(default=128, metadata={"ge": 1, "le": 1024})  # T5 / Qwen prompt tokens

    @property
    def is_real(self) -> bool:
        return self.name != "embedded"

    def validate(self) -> None:
        if self.resolution is not None and self.resolution % 16:
            raise ValueError(f"generator.resolution={self.resolution} must be a multiple of 16 (VAE 8x, 2x2 packing)")
        if self.name in ("flux_kontext", "qwen_image_edit"):
            if not self.path:
                raise ValueError(f"generator={self.name} needs generator.path=DIR, a local folder in the official "
                                 "pipeline layout (model_index.json, transformer/, vae/, text encoders); nothing is downloaded")
            if not (Path(self.path).expanduser() / "model_index.json").is_file():
                raise ValueError(f"generator.path={self.path}: no model_index.json there; give the folder of a "
                                 f"{self.name} checkpoint saved with save_pretrained (the official layout)")


@dataclass
class ScorerConfig:
    """``scorer.*``: the run's judge. When ``name`` is set it is every method's ``<method>.scorer`` (a
    method section that names its own scorer explicitly keeps it)."""

    name: str | None = None  # qwen2_5_vl | llava_onevision | internvl | hf | tiny | a plugin
    path: str | None = None  # local folder of the judge checkpoint
    dtype: str = field(default="float32", metadata={"choices": list(DTYPES)})
    gradient_checkpointing: bool = False  # through the frozen judge (the gradient still reaches the pixels)


@dataclass
class DataConfig:
    """``data.*``: a user's own training data (JSONL, see harness/data_jsonl.py); unset = the shapes world."""

    unpaired: str | None = None  # rows: image, instruction, category, target_caption[, object_name]
    paired: str | None = None  # the same + target (supervised)

    def validate(self) -> None:
        for key in ("unpaired", "paired"):
            value = getattr(self, key)
            if value and not Path(value).expanduser().is_file():
                raise ValueError(f"data.{key}={value} is not a file; give a JSONL file (one JSON object per line)")


def expand_shorthand(key: str, value: str) -> tuple[str, str]:
    """``generator=X`` -> ``generator.name=X`` (and the same for ``scorer``)."""
    return (f"{key}.name", value) if key in SHORTHAND_SECTIONS else (key, value)


def expand_preset(data: dict) -> dict:
    """A preset's ``generator: NAME`` (a bare string) is ``generator: {name: NAME}``."""
    return {k: ({"name": v} if k in SHORTHAND_SECTIONS and isinstance(v, str) else v) for k, v in data.items()}


def apply_run_scorer(run: Any, method_cfgs: dict[str, Any], explicit: set[str]) -> None:
    """``scorer=NAME``: every method with a ``scorer`` field uses it, unless ``<method>.scorer`` was given."""
    name = run.scorer.name
    if not name:
        return
    for method, cfg in method_cfgs.items():
        if cfg is not None and hasattr(cfg, "scorer") and f"{method}.scorer" not in explicit:
            cfg.scorer = name


def image_resolution(run: Any) -> int:
    """The pixel size every image of the run is resized to: ``generator.resolution``, else the world's."""
    gen = getattr(run, "generator", None)
    return int(getattr(gen, "resolution", None) or run.world.resolution)


# judges that read scorer.path (the generic `hf` reads scorer_path, or scorer.path when that is unset)
PATH_SCORERS = ("qwen2_5_vl", "llava_onevision", "internvl")


def check_paths(run: Any, method_cfgs: dict[str, Any]) -> None:
    """Paths a run will need, checked before anything starts: a typo fails in seconds, with one line."""
    if run.output_dir and Path(run.output_dir).exists() and not Path(run.output_dir).is_dir():
        raise ValueError(f"output_dir={run.output_dir} is a file; give a directory (new or a run's to resume)")
    gen = run.generator
    if gen.is_real and gen.lora_rank > 0 and run.engine == "zero3":
        raise ValueError(f"engine=zero3 with generator={gen.name} LoRA: the adapters share one base, which ZeRO-3 would "
                         "partition into each trained model's engine (unverified, as FSDP is refused by peers); use "
                         "engine=zero2 (tested with NP-Edit's two adapters) or generator.lora_rank=0 (full fine-tuning)")
    if gen.is_real and gen.lora_rank > 0 and run.engine == "ddp" and "npedit" in run.methods:
        raise ValueError(f"engine=ddp with generator={gen.name} LoRA and npedit: DDP would wrap the shared base once per "
                         "adapter (gen and aux); use engine=zero2, where the two adapters train correctly")
    hf_path = run.scorer_path or run.scorer.path
    users = [name for name, c in method_cfgs.items() if getattr(c, "scorer", None) == "hf"]
    if users and not (hf_path and Path(hf_path).is_dir()):
        raise ValueError(f"scorer_path={hf_path}: scorer 'hf' ({', '.join(f'{u}.scorer' for u in users)}) "
                         "needs a local folder of a LLaVA or Qwen2-VL checkpoint")
    users = [f"{name}.scorer={c.scorer}" for name, c in method_cfgs.items() if getattr(c, "scorer", None) in PATH_SCORERS]
    if users and not (run.scorer.path and Path(run.scorer.path).expanduser().is_dir()):
        raise ValueError(f"scorer.path={run.scorer.path}: {', '.join(users)} needs scorer.path=DIR, a local folder of "
                         "that judge's checkpoint (config.json, tokenizer, preprocessor_config.json)")
