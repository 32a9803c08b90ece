"""The issue's done-criterion with ``generator=qwen_image_edit`` on CPU: the three methods on a tiny
Qwen-Image-Edit + a tiny Qwen2.5-VL judge from JSONL data, scored on an ImgEdit-style folder; the export
loads into QwenImageEditPipeline and changes its output."""

import json

import torch

from harness.config import load_config
from harness.runner import run
from tests.backends.conftest import qwen_edit_pipeline


def test_three_methods_on_qwen_image_edit_with_a_qwen_judge(tmp_path, qwen_edit_dir, qwen25vl_dir, jsonl_data):
    from PIL import Image

    data = jsonl_data["unpaired"].parent
    cfg = load_config("default", [
        "methods=npedit,flow_grpo,supervised", "calibration=[]", "generator=qwen_image_edit",
        f"generator.path={qwen_edit_dir}", "generator.resolution=64", "generator.lora_rank=4", "generator.lora_alpha=8",
        "scorer=qwen2_5_vl", f"scorer.path={qwen25vl_dir}", f"data.unpaired={jsonl_data['unpaired']}",
        f"data.paired={jsonl_data['paired']}", "npedit.steps=2", "flow_grpo.steps=2", "supervised.steps=2",
        "npedit.batch_size=2", "npedit.aux_updates_per_step=1", "flow_grpo.batch_size=1", "flow_grpo.group_size=2",
        "supervised.batch_size=2", "suites=imgedit", f"imgedit.path={data}", f"imgedit.images={data / 'images'}",
        f"output_dir={tmp_path / 'R'}", "save_images=false"])
    out = run(cfg, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"npedit", "flow_grpo", "supervised"}
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = {e["method"]: e for e in events if e.get("event") == "train"}
    assert {"loss_vlm", "loss_dmd", "loss_aux"} <= set(train["npedit"]) and "loss_fm" in train["supervised"]

    pipe = qwen_edit_pipeline(qwen_edit_dir)
    image = Image.fromarray((torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(0)) * 255).byte().numpy())
    kw = dict(image=image, prompt="make the cat red", height=64, width=64, num_inference_steps=2, true_cfg_scale=1.0,
              output_type="latent")
    from unittest import mock

    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit

    with mock.patch.object(pipeline_qwenimage_edit, "calculate_dimensions", lambda a, r: (64, 64, None)):  # not 1 MP
        plain = pipe(**kw, generator=torch.Generator().manual_seed(0)).images
        pipe.load_lora_weights(str(out / "models" / "npedit"))
        assert (pipe(**kw, generator=torch.Generator().manual_seed(0)).images - plain).abs().max() > 0
