"""Lazy plugin registry (in the manner of lm-evaluation-harness and HELM).

Four groups: methods, suites, scorers, generators. In-tree plugins are registered as
"module:attr" strings and imported only when used; third-party packages add theirs through
the entry-point groups ``harness.methods``, ``harness.suites``, ``harness.scorers`` and
``harness.generators``. Scorers and generators are classes built with ``from_context(ctx)``.
A plugin that fails to import is reported by ``ls`` (soft) and raises
with its traceback when a run uses it (loud).
"""

from __future__ import annotations

import difflib
import importlib
import traceback
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

import yaml

# Method presets: YAML files naming a base method and overrides of its config (ablations are
# configurations, not code). Listed and loaded like methods.
METHOD_PRESET_DIR = Path(__file__).parent / "configs" / "methods"

GROUPS = ("methods", "suites", "scorers", "generators")

# In-tree plugins. harness never imports a method or suite by name: these are lazy strings.
BUILTIN: dict[str, dict[str, str]] = {
    "methods": {
        "copy": "methods.calibration:CopyMethod",
        "target": "methods.calibration:TargetMethod",
        "npedit": "methods.npedit:NPEdit",
        "flow_grpo": "methods.flow_grpo:FlowGRPO",
        "supervised": "methods.supervised:Supervised",
    },
    "suites": {
        "shapes": "benchmarks.shapes_suite:ShapesSuite",
        "gedit": "benchmarks.gedit_suite:GEditSuite",  # GEdit-Bench from a local HF dataset copy (gedit.path)
        "imgedit": "benchmarks.imgedit_suite:ImgEditSuite",  # ImgEdit-Bench Basic from JSON + images (imgedit.path)
    },
    "scorers": {
        "tiny": "harness.embedded.judge.scorer:TinyJudgeScorer",  # the embedded judge, trained on first use
        "hf": "harness.scorers.scorer:HFVLMScorer",  # any local LLaVA / Qwen2-VL folder
        "qwen2_5_vl": "harness.scorers.qwen2_5_vl:Qwen25VLScorer",  # Qwen2.5-VL-Instruct folder (scorer.path)
        "llava_onevision": "harness.scorers.chat_judges:LlavaOnevisionScorer",  # llava-hf OneVision folder
        "internvl": "harness.scorers.chat_judges:InternVLScorer",  # HF-native InternVL3 (-hf) folder
    },
    "generators": {
        "embedded": "harness.embedded.generator:EmbeddedGenerator",  # the shipped teacher + editor initialisation
        "flux_kontext": "harness.models.flux_kontext:FluxKontextGenerator",  # FLUX.1-Kontext-dev folder (generator.path)
        "qwen_image_edit": "harness.models.qwen_image_edit:QwenImageEditGenerator",  # Qwen-Image-Edit(-2509/-2511) folder
    },
}


class UnknownPluginError(KeyError):
    """A name that no plugin of the group carries."""

    def __init__(self, group: str, name: str, known: list[str]):
        self.group, self.name, self.known = group, name, known
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        super().__init__(
            f"unknown {group[:-1]} '{name}'. Known {group}: {', '.join(known) or '(none)'}.{hint}"
        )

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return self.args[0]


class PluginLoadError(ImportError):
    """A registered plugin whose import failed; carries the original traceback text."""


@dataclass
class Entry:
    name: str
    target: str | Any  # "module:attr" or the object itself
    source: str  # "builtin", "entry-point <dist>", "runtime", "preset <file>"
    overrides: dict = field(default_factory=dict)  # presets: config values over the base method's


def method_presets() -> dict[str, tuple[str, dict, Path]]:
    """name -> (base method, overrides, file) for every YAML in configs/methods/."""
    out = {}
    for path in sorted(METHOD_PRESET_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict) or "method" not in data:
            raise ValueError(f"{path}: a method preset needs 'method: <base>' and optional 'overrides: {{...}}'")
        out[path.stem] = (str(data["method"]), dict(data.get("overrides") or {}), path)
    return out


def _import_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


class Registry:
    def __init__(self, group: str):
        if group not in GROUPS:
            raise ValueError(f"unknown registry group '{group}'; allowed: {', '.join(GROUPS)}")
        self.group = group
        self._runtime: dict[str, Entry] = {}
        self._loaded: dict[str, Any] = {}

    def register(self, name: str, target: str | Any) -> None:
        """Register at run time (tests, notebooks). ``target`` is an object or "module:attr"."""
        self._runtime[name] = Entry(name, target, "runtime")
        self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        self._runtime.pop(name, None)
        self._loaded.pop(name, None)

    def entries(self) -> dict[str, Entry]:
        found = {n: Entry(n, t, "builtin") for n, t in BUILTIN[self.group].items()}
        for ep in entry_points(group=f"harness.{self.group}"):
            dist = getattr(ep, "dist", None)
            found[ep.name] = Entry(ep.name, ep.value, f"entry-point {dist.name if dist else '?'}")
        found.update(self._runtime)
        if self.group == "methods":
            for name, (base, overrides, path) in method_presets().items():
                if base in found and name not in found:
                    found[name] = Entry(name, found[base].target, f"preset {path.name} of {base}", overrides)
        return dict(sorted(found.items()))

    def overrides(self, name: str) -> dict:
        """Config overrides a preset applies over its base method's defaults ({} for plain plugins)."""
        entries = self.entries()
        return dict(entries[name].overrides) if name in entries else {}

    def names(self) -> list[str]:
        return list(self.entries())

    def load(self, name: str) -> Any:
        if name in self._loaded:
            return self._loaded[name]
        entries = self.entries()
        if name not in entries:
            raise UnknownPluginError(self.group, name, list(entries))
        entry = entries[name]
        if not isinstance(entry.target, str):
            obj = entry.target
        else:
            try:
                obj = _import_target(entry.target)
            except Exception as e:  # any import-time failure of a plugin is the plugin's fault
                raise PluginLoadError(
                    f"{self.group[:-1]} '{name}' ({entry.source}, {entry.target}) failed to load: "
                    f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
                ) from e
        self._loaded[name] = obj
        return obj

    def status(self) -> list[tuple[str, str, str | None]]:
        """(name, source, error-or-None) for every plugin; never raises (used by ``ls``)."""
        out = []
        for name, entry in self.entries().items():
            try:
                self.load(name)
                out.append((name, entry.source, None))
            except PluginLoadError as e:
                out.append((name, entry.source, str(e).splitlines()[0]))
        return out


REGISTRIES: dict[str, Registry] = {g: Registry(g) for g in GROUPS}
methods = REGISTRIES["methods"]
suites = REGISTRIES["suites"]
scorers = REGISTRIES["scorers"]
generators = REGISTRIES["generators"]


def register(group: str, name: str) -> Callable[[Any], Any]:
    """Decorator form: ``@register("methods", "my_method")``."""

    def deco(obj: Any) -> Any:
        REGISTRIES[group].register(name, obj)
        return obj

    return deco
