"""Typed run configuration: YAML presets + ``key=value`` overrides applied with OmegaConf.

Every error a user can cause here becomes a ``ConfigError`` whose one-line message names the
key, the bad value and what is allowed; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from harness import registry
from harness.config_checks import check_run
from harness.engine import PRESETS as ENGINE_PRESETS
from harness.engine import TRACKERS
from harness.embedded.editor_config import EditorInitConfig
from harness.embedded.teacher.config import TeacherConfig
from harness.embedded.judge.config import JudgeConfig
from harness.run_sections import (DataConfig, GeneratorConfig, ScorerConfig, apply_run_scorer, check_paths,
                                  expand_preset, expand_shorthand)
from harness.world.dataset import WorldConfig

CONFIG_DIR = Path(__file__).parent / "configs"
RUN_PRESET_DIR = CONFIG_DIR / "run"


class ConfigError(ValueError):
    """Bad user input in a config or an override; the message is one line."""


def _choices(*values: str, **extra: Any) -> dict:
    return {"choices": list(values), **extra}


@dataclass
class ProbeConfig:
    """``python -m harness probe teacher|judge``."""

    n: int = field(default=128, metadata={"ge": 1})  # eval samples probed
    steps: int = field(default=25, metadata={"ge": 1})  # teacher sampling steps
    # the teacher's guidance: at 2.0 its caption match holds and its images are cleaner than at 3.0
    # (fresh captions, n=256: match 0.49 vs 0.50, explained >= 0.95 in 0.73 vs 0.57 of samples; docs/embedded_models.md)
    cfg_scale: float = field(default=2.0, metadata={"ge": 1.0})
    seed: int = 1234


@dataclass
class RunConfig:
    """What ``python -m harness run`` does. Method sections are added per selected method."""

    name: str = "shapes"
    methods: list[str] = field(default_factory=lambda: ["copy", "target"])
    # bounds scored beside the methods of every run (copy the source / the exact target): the table's
    # floor and ceiling; seconds to score. calibration=[] for none
    calibration: list[str] = field(default_factory=lambda: ["copy", "target"])
    suites: list[str] = field(default_factory=lambda: ["shapes"])
    output_dir: str | None = None  # default: runs/<time>-<name>/
    seed: int = field(default=0, metadata={"ge": 0})
    device: str = field(default="auto", metadata=_choices("auto", "cpu", "cuda"))
    engine: str = field(default="single", metadata=_choices(*ENGINE_PRESETS))  # harness/engine.py
    mixed_precision: str = field(default="no", metadata=_choices("no", "bf16"))
    resume: str = "auto"  # auto: latest complete checkpoint in output_dir; never; or a checkpoint path
    eval_batch_size: int = field(default=64, metadata={"ge": 1})
    curve_samples: int = field(default=28, metadata={"ge": 1})  # eval samples per learning-curve point
    save_images: bool = True
    scorer_path: str | None = None  # local folder for scorer "hf" (LLaVA / Qwen2-VL)
    trust_remote_code: bool = False  # only for a checkpoint you trust; never on by default
    # the generator family, the judge and the data every method of the run shares (harness/run_sections.py);
    # generator=NAME / scorer=NAME are shorthands for generator.name / scorer.name
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    scorer: ScorerConfig = field(default_factory=ScorerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    # live training curves: the scalars of metrics.jsonl also go to tensorboard (output_dir/trackers/)
    # or wandb (pip install wandb); none by default, metrics.jsonl is always written
    tracker: str = field(default="none", metadata=_choices(*TRACKERS))
    world: WorldConfig = field(default_factory=WorldConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)  # embedded text-to-image teacher
    judge: JudgeConfig = field(default_factory=JudgeConfig)  # embedded VLM judge (scorer "tiny")
    probe: ProbeConfig = field(default_factory=lambda: ProbeConfig())
    # the shared editor initialisation (an identity warm-up of the teacher, prepared and cached once)
    editor: EditorInitConfig = field(default_factory=EditorInitConfig)

    def validate(self) -> None:
        import importlib.util

        if self.tracker == "wandb" and importlib.util.find_spec("wandb") is None:
            raise ValueError("tracker=wandb needs the wandb package, which is not installed: pip install wandb")


@dataclass
class ResolvedConfig:
    run: RunConfig
    methods: dict[str, Any]  # method name -> its typed config (or None)
    suites: dict[str, Any] = field(default_factory=dict)  # suite name -> its typed config (suites with one)

    @property
    def rows(self) -> list[str]:
        """Every method the run trains and scores: calibration bounds not named in ``methods``, then ``methods``."""
        return [c for c in self.run.calibration if c not in self.run.methods] + list(self.run.methods)

    def to_container(self) -> dict:
        out = dataclasses.asdict(self.run)
        for name, cfg in {**self.methods, **self.suites}.items():
            if cfg is not None:
                out[name] = dataclasses.asdict(cfg)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_container(), sort_keys=False)

    def hash(self) -> str:
        blob = json.dumps(self.to_container(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# --------------------------------------------------------------------------- overrides


def parse_overrides(args: list[str]) -> list[tuple[str, str]]:
    out = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise ConfigError(f"'{arg}': overrides are written key=value (e.g. methods=copy,target)")
        out.append((key.strip(), value.strip()))
    return out


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _check_key(schema: DictConfig, key: str) -> Any:
    """Return the schema node at ``key`` or raise naming the first unknown segment."""
    node: Any = schema
    done: list[str] = []
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            where = ".".join(done) or "the top level"
            allowed = list(node.keys()) if isinstance(node, DictConfig) else []
            full = ".".join(done + [part])
            raise ConfigError(
                f"unknown key '{full}'. Allowed keys under {where}: {', '.join(map(str, allowed))}."
                + _suggest(part, [str(a) for a in allowed])
            )
        node = node._get_node(part)
        done.append(part)
    return node


def _as_dotlist_item(schema: DictConfig, key: str, value: str) -> str:
    node = _check_key(schema, key)
    # `methods=a,b` is a list, not a sweep: split comma lists for list-typed keys.
    if isinstance(node, ListConfig) and not value.startswith("["):
        value = "[" + ",".join(v.strip() for v in value.split(",") if v.strip()) + "]"
    return f"{key}={value}"


def _merge(base: DictConfig, other: Any, what: str) -> DictConfig:
    try:
        return OmegaConf.merge(base, other)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or what
        msg = str(e).splitlines()[0]
        raise ConfigError(f"{key}: {msg} (from {what})") from None


# --------------------------------------------------------------------------- validation


def _field_metadata(cls: type, f: dataclasses.Field) -> dict:
    """A field's range metadata, with what its base classes declared for the same name: a method that
    redeclares ``steps`` with a new default keeps the shared ``ge=0`` of TrainConfig.steps."""
    meta: dict = {}
    for base in reversed(cls.__mro__):
        base_field = getattr(base, "__dataclass_fields__", {}).get(f.name)
        if base_field is not None:
            meta.update(base_field.metadata)
    return meta


def _check_field(prefix: str, f: dataclasses.Field, value: Any, meta: dict | None = None) -> None:
    meta = f.metadata if meta is None else meta
    key = f"{prefix}{f.name}"
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}={value} is not allowed; it must be a finite number.")
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(
            f"{key}={value!r} is not allowed; choose one of: {', '.join(map(str, meta['choices']))}."
            + _suggest(str(value), [str(c) for c in meta["choices"]])
        )
    if "ge" in meta and value is not None and value < meta["ge"]:
        raise ConfigError(f"{key}={value} is out of range; it must be >= {meta['ge']}.")
    if "le" in meta and value is not None and value > meta["le"]:
        raise ConfigError(f"{key}={value} is out of range; it must be <= {meta['le']}.")
    if "lt" in meta and value is not None and value >= meta["lt"]:
        raise ConfigError(f"{key}={value} is out of range; it must be < {meta['lt']}.")


def validate(obj: Any, prefix: str = "") -> None:
    """Check ranges/choices declared in field metadata, recursively, then ``obj.validate()``."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        _check_field(prefix, f, value, _field_metadata(type(obj), f))
        if dataclasses.is_dataclass(value):
            validate(value, f"{prefix}{f.name}.")
    if hasattr(obj, "validate"):
        try:
            obj.validate()
        except ValueError as e:
            raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {e}") from None


def _to_object(cfg: DictConfig, what: str, class_name: str | None = None) -> Any:
    def fail(msg: str):
        if class_name:  # "WorldConfig.resolution must ..." -> "world.resolution must ..."
            msg = msg.replace(f"{class_name}.", f"{what}.")
        return ConfigError(msg if what in msg else f"{what}: {msg}")

    try:
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        raise fail(str(e.__cause__ or e).splitlines()[0]) from None
    except ValueError as e:  # raised by a dataclass __post_init__
        raise fail(str(e).splitlines()[0]) from None


# --------------------------------------------------------------------------- loading


def find_preset(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = RUN_PRESET_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    known = sorted(p.stem for p in RUN_PRESET_DIR.glob("*.yaml"))
    raise ConfigError(
        f"config '{name_or_path}' not found: give a YAML file path or one of: {', '.join(known)}."
        + _suggest(name_or_path, known)
    )


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of keys, not {type(data).__name__}")
    return data


def method_config_class(method_cls: Any) -> Any:
    cfg_cls = getattr(method_cls, "Config", None)
    return cfg_cls if cfg_cls is not None and dataclasses.is_dataclass(cfg_cls) else None


def _unselected_suite_hint(key: str, selected: list[str]) -> None:
    """``gedit.path=...`` without ``suites=gedit``: say so instead of 'unknown key'."""
    head = key.split(".")[0]
    if head not in selected and head in registry.suites.names():
        raise ConfigError(f"{key}: suite '{head}' is not selected; add suites={','.join(selected + [head])}")


def _selection(base: DictConfig, preset: str, preset_data: dict, pairs: list[tuple[str, str]]):
    """The method list (calibration bounds first) and the suite list, read before anything else: they
    decide which method and suite sections the schema has."""
    probe = _merge(base, {k: v for k, v in preset_data.items() if k in base}, f"config '{preset}'")
    for key, value in pairs:
        if key in ("methods", "suites", "calibration"):
            probe = _merge(probe, OmegaConf.from_dotlist([_as_dotlist_item(base, key, value)]), key)
    method_names = list(probe.methods)
    if not method_names:
        raise ConfigError("methods is empty: name at least one method, e.g. methods=copy")
    if len(set(method_names)) != len(method_names):
        raise ConfigError(f"methods={','.join(method_names)} names a method twice")
    for name in probe.calibration:
        try:
            role = registry.methods.load(name).role
        except registry.UnknownPluginError as e:
            raise ConfigError(f"calibration: {e}") from None
        if role == "method":
            raise ConfigError(f"calibration={','.join(probe.calibration)}: '{name}' is a training method, "
                              f"not a calibration bound; name it in methods= instead")
    method_names = [c for c in probe.calibration if c not in method_names] + method_names
    for name in list(probe.suites):
        if name not in registry.suites.names():
            raise ConfigError(str(registry.UnknownPluginError("suites", name, registry.suites.names())))
    return method_names, list(probe.suites)


def _add_method_sections(schema: DictConfig, method_names: list[str]) -> dict[str, Any]:
    """A section ``<method>.*`` per method with a Config dataclass (an ablation preset's values as its
    defaults); returns method name -> config class (None for a method without one)."""
    classes: dict[str, Any] = {}
    for name in method_names:
        try:
            cls = registry.methods.load(name)
        except registry.UnknownPluginError as e:
            raise ConfigError(str(e)) from None
        cfg_cls = method_config_class(cls)
        classes[name] = cfg_cls
        if cfg_cls is not None:
            if name in schema:
                raise ConfigError(f"method name '{name}' clashes with the run key '{name}'; rename the method")
            section = OmegaConf.structured(cfg_cls)
            preset = registry.methods.overrides(name)
            if preset:  # an ablation preset: its values become this section's defaults
                section = _merge(section, preset, f"preset '{name}'")
            with open_dict(schema):  # the RunConfig schema is closed; method sections join it here
                schema[name] = section
    return classes


def _add_suite_sections(schema: DictConfig, suite_names: list[str]) -> dict[str, Any]:
    """A section ``<suite>.*`` per suite with a Config dataclass, like a method's."""
    classes: dict[str, Any] = {}
    for name in suite_names:
        cfg_cls = method_config_class(registry.suites.load(name))
        if cfg_cls is None:
            continue
        if name in schema:
            raise ConfigError(f"suite name '{name}' clashes with the key '{name}' (run key or method); rename one")
        classes[name] = cfg_cls
        with open_dict(schema):
            schema[name] = OmegaConf.structured(cfg_cls)
    return classes


def _run_config(cfg: DictConfig) -> RunConfig:
    run_part = OmegaConf.masked_copy(cfg, [f.name for f in dataclasses.fields(RunConfig)])
    # Build nested sections first so that an error raised by their __post_init__ names the section.
    for f in dataclasses.fields(RunConfig):
        node = run_part._get_node(f.name)
        if isinstance(node, DictConfig) and dataclasses.is_dataclass(OmegaConf.get_type(node)):
            _to_object(node, f.name, OmegaConf.get_type(node).__name__)
    run = _to_object(OmegaConf.merge(OmegaConf.structured(RunConfig), run_part), "config")
    validate(run)
    if run.generator.name not in registry.generators.names():
        raise ConfigError(f"generator: {registry.UnknownPluginError('generators', run.generator.name, registry.generators.names())}")
    return run


def load_config(preset: str = "default", overrides: list[str] | None = None) -> ResolvedConfig:
    pairs = [expand_shorthand(k, v) for k, v in parse_overrides(overrides or [])]
    preset_data = expand_preset(_load_yaml(find_preset(preset)))
    method_names, suite_names = _selection(OmegaConf.structured(RunConfig), preset, preset_data, pairs)
    schema = OmegaConf.structured(RunConfig)
    method_cfg_classes = _add_method_sections(schema, method_names)
    suite_cfg_classes = _add_suite_sections(schema, suite_names)

    for key in preset_data:
        if key not in schema:
            _unselected_suite_hint(key, suite_names)
            known = [str(k) for k in schema.keys()]
            raise ConfigError(f"config '{preset}': unknown key '{key}'." + _suggest(key, known))
    cfg = _merge(schema, preset_data, f"config '{preset}'")
    for key, value in pairs:
        if key.split(".")[0] not in schema:
            _unselected_suite_hint(key, suite_names)
        item = _as_dotlist_item(schema, key, value)
        cfg = _merge(cfg, OmegaConf.from_dotlist([item]), f"override {key}={value}")

    run = _run_config(cfg)
    method_cfgs: dict[str, Any] = {}
    for name, cfg_cls in method_cfg_classes.items():
        method_cfgs[name] = None if cfg_cls is None else _to_object(cfg[name], name)
        if cfg_cls is not None:
            validate(method_cfgs[name], f"{name}.")
    suite_cfgs: dict[str, Any] = {}
    for name, cfg_cls in suite_cfg_classes.items():
        suite_cfgs[name] = _to_object(cfg[name], name, cfg_cls.__name__)
        validate(suite_cfgs[name], f"{name}.")
    apply_run_scorer(run, method_cfgs, {k for k, _ in pairs})
    try:
        check_paths(run, method_cfgs)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    check_run(run, method_cfgs, ResolvedConfig(run=run, methods=method_cfgs).rows)  # chains, resume, scorers, ...
    return ResolvedConfig(run=run, methods=method_cfgs, suites=suite_cfgs)

