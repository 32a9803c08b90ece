"""Catalogue, config keys and values: each a one-line error naming the key and what is allowed (exit 2).
(The first six cases of issue 27 live in tests/test_config.py.) Then a walk over every config field
with range metadata: the override parser rejects an out-of-range value for each (hypothesis)."""

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import registry
from harness.config import ConfigError, RunConfig, load_config, method_config_class
from tests.catalogue.conftest import one_line_error

CASES = [
    # negative / zero / out of range, on fields a method redeclares or inherits
    (["methods=flow_grpo", "flow_grpo.steps=-1"], ["flow_grpo.steps", ">= 0"]),
    (["methods=flow_grpo", "flow_grpo.batch_size=0"], ["flow_grpo.batch_size", ">= 1"]),
    (["methods=supervised", "supervised.lr=-0.001"], ["supervised.lr", ">= 0"]),
    (["methods=npedit", "npedit.keep_last=0"], ["npedit.keep_last", ">= 1"]),
    (["methods=npedit", "npedit.skip_nonfinite=-2"], ["npedit.skip_nonfinite", ">= 0"]),
    (["methods=supervised", "supervised.ema_decay=1.0"], ["supervised.ema_decay", "< 1"]),
    (["methods=npedit", "npedit.do_nothing_prob=1.5"], ["npedit.do_nothing_prob", "<= 1"]),
    (["methods=flow_grpo", "flow_grpo.group_size=1"], ["flow_grpo.group_size", ">= 2"]),
    (["methods=copy", "eval_batch_size=0"], ["eval_batch_size", ">= 1"]),
    (["methods=copy", "curve_samples=-3"], ["curve_samples", ">= 1"]),
    # NaN / inf
    (["methods=supervised", "supervised.lr=nan"], ["supervised.lr", "finite"]),
    (["methods=flow_grpo", "flow_grpo.beta=-inf"], ["flow_grpo.beta", "finite"]),
    (["methods=npedit", "npedit.lambda_dmd=inf"], ["npedit.lambda_dmd", "finite"]),
    (["methods=copy", "world.n_eval=inf"], ["world.n_eval", "inf"]),
    # wrong type
    (["methods=copy", "seed=1.5"], ["seed", "1.5"]),
    (["methods=copy", "world.resolution=abc"], ["world.resolution", "abc"]),
    (["methods=copy", "save_images=maybe"], ["save_images", "maybe"]),
    (["methods=supervised", "supervised.steps=ten"], ["supervised.steps", "ten"]),
    (["methods=copy", "seed="], ["seed"]),
    # empty lists, a name twice
    (["methods=[]"], ["methods is empty"]),
    (["methods=copy", "suites=[]"], ["suites is empty", "suites=shapes"]),
    (["methods=copy", "suites=shapes,shapes"], ["suites=shapes,shapes", "twice"]),
    (["methods=npedit,supervised,npedit"], ["npedit", "twice"]),
    # unknown method / suite / scorer / engine / tracker / precision
    (["methods=npedti"], ["npedti", "Did you mean 'npedit'"]),
    (["methods=copy", "suites=gedti"], ["gedti", "gedit"]),
    (["methods=npedit", "npedit.scorer=nosuch"], ["npedit.scorer", "nosuch", "tiny"]),
    (["methods=copy", "engine=zero4"], ["engine", "zero4", "zero3"]),
    (["methods=copy", "tracker=mlflow"], ["tracker", "mlflow", "tensorboard"]),
    (["methods=copy", "mixed_precision=fp16"], ["mixed_precision", "bf16"]),
    (["methods=npedit", "npedit.vlm_loss=ce"], ["npedit.vlm_loss", "binary", "full_vocab_ce"]),
    # combinations that cannot work
    (["methods=supervised", "supervised.ema_decay=0.5", "engine=zero3"], ["supervised.ema_decay", "zero3", "zero2"]),
    (["methods=flow_grpo", "flow_grpo.init_from=:supervised"], ["flow_grpo.init_from", "'supervised'", "earlier"]),
    (["methods=copy", "imgedit.path=/x"], ["imgedit", "suites=shapes,imgedit"]),
]


@pytest.mark.parametrize("override, must_name", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_config_value(override, must_name, cli, tmp_path):
    code, err = cli("run", *override, f"output_dir={tmp_path / 'out'}")
    one_line_error(code, err, *must_name)
    assert not (tmp_path / "out").exists(), "a rejected config must not create a run directory"


@pytest.mark.parametrize("text, key", [("methods: copy\n", "methods"), ("methods: [copy]\nseed: [1, 2]\n", "seed"),
                                       ("methods: [copy\n", "not valid YAML"), ("- copy\n", "mapping")])
def test_a_bad_preset_file_names_file_and_key(text, key, cli, tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text(text)
    code, err = cli("run", "--config", str(preset), f"output_dir={tmp_path / 'out'}")
    one_line_error(code, err, key, "p.yaml")


# --------------------------------------------------------------------------- the walk

RANGE_KEYS = ("ge", "gt", "le", "lt", "choices")


def _metadata(cls, name):
    """A field's range metadata merged over the class's bases (what a redeclaration must keep)."""
    meta = {}
    for base in reversed(cls.__mro__):
        f = getattr(base, "__dataclass_fields__", {}).get(name)
        if f is not None:
            meta.update({k: v for k, v in f.metadata.items() if k in RANGE_KEYS})
    return meta


def _walk(cls, prefix, selection, out):
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            _walk(type(default), f"{prefix}{f.name}.", selection, out)
            continue
        meta = _metadata(cls, f.name)
        if meta:
            is_float = "float" in str(f.type) or isinstance(default, float)
            out.append((f"{prefix}{f.name}", is_float, meta, selection))


def config_fields():
    out = []
    _walk(RunConfig, "", ["methods=copy"], out)
    seen = set()
    for name in registry.methods.names():
        cls = method_config_class(registry.methods.load(name))
        if cls is not None and cls not in seen and not registry.methods.overrides(name):
            seen.add(cls)
            _walk(cls, f"{name}.", [f"methods={name}"], out)
    for name in registry.suites.names():
        cls = method_config_class(registry.suites.load(name))
        if cls is not None:
            _walk(cls, f"{name}.", ["methods=copy", f"suites={name}"], out)
    return out


FIELDS = config_fields()


def out_of_range(is_float, meta):
    """A strategy of values the field's metadata forbids."""
    size = st.floats(1e-6, 1e6) if is_float else st.integers(1, 10**6)
    options = []
    if "choices" in meta:
        options.append(st.text("abcxyz_", min_size=1, max_size=8).filter(lambda s: s not in meta["choices"]))
    if "ge" in meta:
        options.append(size.map(lambda d: meta["ge"] - d))
    if "gt" in meta:
        options.append(size.map(lambda d: meta["gt"] - d) | st.just(meta["gt"]))
    if "le" in meta:
        options.append(size.map(lambda d: meta["le"] + d))
    if "lt" in meta:
        options.append(size.map(lambda d: meta["lt"] + d) | st.just(meta["lt"]))
    return st.one_of(options)


def _assert_rejected(key, value, selection):
    text = repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return
    with pytest.raises(ConfigError) as e:
        load_config("default", [*selection, f"{key}={text}"])
    assert key in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_the_walk_sees_every_section():
    heads = {k.split(".")[0] for k, *_ in FIELDS}
    assert {"seed", "npedit", "flow_grpo", "supervised", "gedit", "imgedit"} <= heads
    assert ("npedit.steps", False, {"ge": 0}, ["methods=npedit"]) in FIELDS  # a redeclared field keeps its bound


@pytest.mark.parametrize("key, is_float, meta, selection", FIELDS, ids=[f[0] for f in FIELDS])
@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_ranged_field_rejects_out_of_range(key, is_float, meta, selection, data):
    """The simplest out-of-range value of each field (hypothesis starts at the boundary)."""
    _assert_rejected(key, data.draw(out_of_range(is_float, meta)), selection)


@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_random_fields_reject_random_out_of_range_values(data):
    key, is_float, meta, selection = data.draw(st.sampled_from(FIELDS))
    _assert_rejected(key, data.draw(out_of_range(is_float, meta)), selection)
