"""The issue's done-criterion on CPU: the three methods on tiny FLUX.1-Kontext + a tiny Qwen2.5-VL judge from
JSONL data, scored on an ImgEdit-style folder; every method's export loads into FluxKontextPipeline."""

import json

import torch

from harness.config import load_config
from harness.runner import run


def test_three_methods_on_kontext_with_a_qwen_judge(tmp_path, kontext_dir, qwen25vl_dir, jsonl_data):
    from diffusers import FluxKontextPipeline

    data = jsonl_data["unpaired"].parent
    cfg = load_config("default", [
        "methods=npedit,flow_grpo,supervised", "calibration=[]", "generator=flux_kontext",
        f"generator.path={kontext_dir}", "generator.resolution=64", "generator.lora_rank=4", "generator.lora_alpha=8",
        "scorer=qwen2_5_vl", f"scorer.path={qwen25vl_dir}", f"data.unpaired={jsonl_data['unpaired']}",
        f"data.paired={jsonl_data['paired']}", "npedit.steps=2", "flow_grpo.steps=2", "supervised.steps=2",
        "npedit.batch_size=2", "npedit.aux_updates_per_step=1", "flow_grpo.batch_size=1", "flow_grpo.group_size=2",
        "supervised.batch_size=2", "suites=imgedit", f"imgedit.path={data}", f"imgedit.images={data / 'images'}",
        f"output_dir={tmp_path / 'R'}", "save_images=false"])
    assert cfg.methods["npedit"].scorer == cfg.methods["flow_grpo"].scorer == "qwen2_5_vl"
    out = run(cfg, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"npedit", "flow_grpo", "supervised"}
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {e["paired"] for e in events if e.get("event") == "data_load"} == {False, True}
    train = {e["method"]: e for e in events if e.get("event") == "train"}
    assert {"loss_vlm", "loss_dmd", "loss_aux"} <= set(train["npedit"]) and "loss_fm" in train["supervised"]

    pipe = FluxKontextPipeline.from_pretrained(str(kontext_dir))
    pipe.set_progress_bar_config(disable=True)
    kw = dict(image=torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)), prompt="make the cat red",
              height=64, width=64, max_area=64 * 64, _auto_resize=False, num_inference_steps=2, output_type="latent",
              generator=torch.Generator().manual_seed(0))
    plain = pipe(**kw).images
    kw["generator"] = torch.Generator().manual_seed(0)
    pipe.load_lora_weights(str(out / "models" / "npedit"))
    assert (pipe(**kw).images - plain).abs().max() > 0
