"""Config loading: presets, key=value overrides, and one-line errors that name the key (exit 2)."""

import pytest

from harness.cli import main
from harness.config import ConfigError, load_config


def test_defaults_and_list_override():
    cfg = load_config("default", ["methods=target,copy", "world.n_eval=14", "seed=3"])
    assert cfg.run.methods == ["target", "copy"]
    assert cfg.run.world.n_eval == 14 and cfg.run.seed == 3


def test_calibration_rows_join_every_run_once_and_can_be_turned_off():
    cfg = load_config("default", ["methods=supervised,copy"])
    assert cfg.rows == ["target", "supervised", "copy"]  # a bound named in methods keeps its place
    assert set(cfg.methods) == {"target", "supervised", "copy"}
    assert load_config("default", ["methods=supervised", "calibration=[]"]).rows == ["supervised"]
    assert load_config("default", []).rows == ["copy", "target"]
    with pytest.raises(ConfigError, match="'supervised' is a training method"):
        load_config("default", ["calibration=copy,supervised"])
    with pytest.raises(ConfigError, match="calibration: unknown method 'cpy'"):
        load_config("default", ["calibration=cpy"])


def test_bracket_list_is_accepted():
    assert load_config("default", ["methods=[copy]"]).run.methods == ["copy"]


def test_config_hash_depends_on_values():
    a = load_config("default", ["seed=1"]).hash()
    assert a == load_config("default", ["seed=1"]).hash()
    assert a != load_config("default", ["seed=2"]).hash()


@pytest.mark.parametrize(
    "override, must_name",
    [
        (["methods=nosuch"], ["nosuch", "copy", "target"]),
        (["methods=cpy"], ["cpy", "Did you mean 'copy'"]),
        (["world.resolution=-3"], ["world", "resolution"]),
        (["world.resolutin=32"], ["world.resolutin", "Did you mean 'resolution'"]),
        (["nosuchkey=1"], ["nosuchkey"]),
        (["seed=abc"], ["seed", "abc"]),
        (["seed=-1"], ["seed", ">= 0"]),
        (["device=tpu"], ["device", "auto", "cpu", "cuda"]),
        (["suites=nosuite"], ["nosuite", "shapes"]),
        (["methods"], ["methods", "key=value"]),
        (["methods=copy,copy"], ["twice"]),
        (["methods=flow_grpo", "flow_grpo.sde_window=[3,1]"], ["flow_grpo.sde_window", "start < end"]),
        (["methods=flow_grpo", "flow_grpo.reward_scale=log"], ["reward_scale", "prob", "logit"]),
        (["generator=embeded"], ["generator", "embeded", "Did you mean 'embedded'"]),
        (["editor.steps=0"], ["editor.steps", "positive"]),
        (["editor.ref_mode=side"], ["editor.ref_mode", "channel", "token"]),
        # fields a method redeclares keep the shared bounds (TrainConfig.steps >= 0, batch_size >= 1)
        (["methods=npedit", "npedit.steps=-1"], ["npedit.steps", ">= 0"]),
        (["methods=supervised", "supervised.batch_size=0"], ["supervised.batch_size", ">= 1"]),
        (["methods=npedit", "npedit.lambda_vlm=nan"], ["npedit.lambda_vlm", "finite"]),
        (["methods=npedit", "npedit.lr=inf"], ["npedit.lr", "finite"]),
        (["methods=copy", "world.n_eval=0"], ["world.n_eval", ">= 1"]),
        (["methods=npedit", "npedit.scorer=hf", "scorer_path=/nope"], ["scorer_path", "/nope", "npedit.scorer"]),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_key(override, must_name, capsys, tmp_path):
    code = main(["run", *override, f"output_dir={tmp_path / 'out'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    for word in must_name:
        assert word in err, (word, err)
    assert not (tmp_path / "out").exists(), "a rejected config must not create a run directory"


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ConfigError, match="default"):
        load_config("nosuchpreset", [])


def test_preset_file_with_unknown_key_is_rejected(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("methods: [copy]\nwrold: {}\n")
    with pytest.raises(ConfigError, match="wrold.*Did you mean 'world'"):
        load_config(str(preset), [])


def test_help_on_each_subcommand(capsys):
    for sub in ("run", "prepare", "report", "ls"):
        with pytest.raises(SystemExit) as e:
            main([sub, "--help"])
        assert e.value.code == 0
        assert "usage" in capsys.readouterr().out


def test_an_output_dir_that_is_a_file_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "a_file"
    path.write_text("not a directory")
    assert main(["run", "methods=copy", f"output_dir={path}"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "output_dir" in err and "is a file" in err
