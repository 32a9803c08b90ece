"""data.unpaired / data.paired JSONL loaders: clear errors naming file, row and field; bad images skipped."""

import json

import pytest

from harness.data import StepBatches
from harness.data_jsonl import DataError, load_jsonl


def _write(tmp_path, rows, name="d.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _image(tmp_path, name, size=(40, 24)):
    from PIL import Image

    Image.new("RGB", size, (200, 10, 10)).save(tmp_path / name)
    return name


ROW = {"instruction": "make the circle red", "category": "color_alter", "target_caption": "a red circle"}


def test_rows_load_resized_and_unpaired_has_no_target(tmp_path):
    rows = [{**ROW, "image": _image(tmp_path, "a.png"), "target": _image(tmp_path, "b.png"), "object_name": "circle"}]
    path = _write(tmp_path, rows)
    unpaired = load_jsonl(path, 32)
    s = unpaired.samples[0]
    assert s.source.shape == (3, 32, 32) and s.target is None and s.object_name == "circle"
    assert abs(float(s.source[0].mean()) - 200 / 255) < 1e-3
    batch = StepBatches(unpaired.samples, batch_size=1, seed=0)(0)
    assert "target" not in batch
    paired = load_jsonl(path, 32, paired=True)
    assert paired.samples[0].target.shape == (3, 32, 32)
    assert StepBatches(paired.samples, batch_size=1, seed=0, paired=True)(0)["target"].shape == (1, 3, 32, 32)


@pytest.mark.parametrize("row, field", [
    ({"instruction": "x", "category": "color_alter", "target_caption": "y"}, "image"),
    ({**ROW, "image": "a.png", "instruction": ""}, "instruction"),
    ({**ROW, "image": "a.png", "category": "teleport"}, "category"),
    ({**ROW, "image": "a.png", "object_name": 3}, "object_name"),
    ([1, 2], "row"),
])
def test_a_bad_row_names_file_row_and_field(tmp_path, row, field):
    _image(tmp_path, "a.png")
    path = _write(tmp_path, [{**ROW, "image": "a.png"}, row])
    with pytest.raises(DataError, match=rf"d.jsonl:2: field '{field}'"):
        load_jsonl(path, 32)


def test_paired_needs_target_and_missing_file_is_named(tmp_path):
    path = _write(tmp_path, [{**ROW, "image": _image(tmp_path, "a.png")}])
    with pytest.raises(DataError, match="d.jsonl:1: field 'target'"):
        load_jsonl(path, 32, paired=True)
    with pytest.raises(DataError, match="data.unpaired=.*nope.jsonl: file not found"):
        load_jsonl(tmp_path / "nope.jsonl", 32)
    with pytest.raises(DataError, match="d2.jsonl:1: not valid JSON"):
        load_jsonl(_write(tmp_path, ["{oops"], "d2.jsonl"), 32)


def test_a_corrupt_or_missing_image_is_skipped_and_counted(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    rows = [{**ROW, "image": "bad.png"}, {**ROW, "image": "gone.png"}, {**ROW, "image": _image(tmp_path, "ok.png")}]
    loaded = load_jsonl(_write(tmp_path, rows), 16)
    assert len(loaded.samples) == 1 and [s["row"] for s in loaded.skipped] == [1, 2]
    with pytest.raises(DataError, match="no usable rows"):
        load_jsonl(_write(tmp_path, rows[:2], "only_bad.jsonl"), 16)


def test_config_checks_the_files_and_the_generator_path(tmp_path, qwen25vl_dir):
    from harness.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="data.unpaired=.*is not a file"):
        load_config("default", ["methods=npedit", f"data.unpaired={tmp_path}/x.jsonl"])
    with pytest.raises(ConfigError, match="generator=flux_kontext needs generator.path"):
        load_config("default", ["methods=npedit", "generator=flux_kontext"])
    with pytest.raises(ConfigError, match="no model_index.json"):
        load_config("default", ["methods=npedit", "generator=flux_kontext", f"generator.path={tmp_path}"])
    with pytest.raises(ConfigError, match="scorer.path=None: npedit.scorer=qwen2_5_vl needs scorer.path"):
        load_config("default", ["methods=npedit", "scorer=qwen2_5_vl"])
    cfg = load_config("default", ["methods=npedit,flow_grpo", "scorer=hf", f"scorer.path={qwen25vl_dir}",
                                  "flow_grpo.scorer=tiny"])
    assert cfg.methods["npedit"].scorer == "hf" and cfg.methods["flow_grpo"].scorer == "tiny"


def test_real_model_presets_load_and_refuse_zero3(kontext_dir, qwen25vl_dir, jsonl_data):
    from harness.config import ConfigError, load_config

    paths = [f"generator.path={kontext_dir}", f"scorer.path={qwen25vl_dir}", f"data.unpaired={jsonl_data['unpaired']}",
             f"imgedit.path={jsonl_data['imgedit']}"]
    cfg = load_config("npedit_kontext", paths)
    assert (cfg.run.generator.name, cfg.run.generator.resolution, cfg.run.engine) == ("flux_kontext", 512, "zero2")
    assert cfg.methods["npedit"].scorer == "qwen2_5_vl" and cfg.methods["npedit"].lambda_dmd == 0.5
    assert load_config("flow_grpo_kontext", paths).methods["flow_grpo"].noise_level == 0.9
    with pytest.raises(ConfigError, match="engine=zero3 with generator=flux_kontext LoRA"):
        load_config("npedit_kontext", [*paths, "engine=zero3"])
