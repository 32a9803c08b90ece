"""GPU smoke and throughput check of the real-backend path: random-init REAL-SIZE stacks built on the device.

FLUX.1-Kontext-dev (12B transformer, T5-XXL, CLIP-L, the real VAE; bf16) as the generator family, and a
Qwen2.5-VL-7B-sized judge (bf16), with the tiny tokenizers of benchmarks/tiny_checkpoints.py (ids are
valid in the real vocabularies' range; the weights are random, so only time and memory mean anything).
One NP-Edit run of the real method class (gen + aux adapters on one base, teacher = adapters off,
judge loss through the VAE decode) and one Flow-GRPO run (SDE rollouts, reward, PPO step), each for a
few steps at 512 px, single engine; prints step time, peak memory and MFU (FLOPs counted by
torch.utils.flop_counter, peak FLOPs from trl's device table).

    python benchmarks/gpu_smoke.py [--resolution 512] [--steps 3] [--lora-rank 64]

No downloads: nothing is read from the hub. Needs one GPU with ~80 GB (layout A of the README).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch


def build_kontext(device: str):
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxKontextPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    from benchmarks.tiny_checkpoints import (
        KONTEXT_SCHEDULER,
        _clip_tokenizer,
        _t5_tokenizer,
    )

    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            transformer = FluxTransformer2DModel(guidance_embeds=True)  # defaults: FLUX.1, 19 + 38 blocks, 3072 wide
            vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16,
                                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                                block_out_channels=(128, 256, 512, 512), layers_per_block=2, use_quant_conv=False,
                                use_post_quant_conv=False, scaling_factor=0.3611, shift_factor=0.1159)
            clip = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                                num_hidden_layers=12, num_attention_heads=12, projection_dim=768,
                                                max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                                                pad_token_id=1, hidden_act="quick_gelu"))
            t5 = T5EncoderModel(T5Config(vocab_size=32128, d_model=4096, d_ff=10240, d_kv=64, num_layers=24,
                                         num_heads=64, feed_forward_proj="gated-gelu"))
    finally:
        torch.set_default_dtype(torch.float32)
    return FluxKontextPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**KONTEXT_SCHEDULER), vae=vae,
                               text_encoder=clip, tokenizer=_clip_tokenizer(), text_encoder_2=t5,
                               tokenizer_2=_t5_tokenizer(), transformer=transformer)


def build_judge(device: str):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    from benchmarks.tiny_checkpoints import QWEN_SPECIALS, _qwen_tokenizer
    from harness.scorers.scorer import HFVLMScorer

    tok = _qwen_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIALS}
    special = dict(bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    cfg = Qwen2_5_VLConfig(  # Qwen2.5-VL-7B-Instruct's shapes
        vocab_size=152064, image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"], **special,
        text_config=dict(vocab_size=152064, hidden_size=3584, num_hidden_layers=28, num_attention_heads=28,
                         num_key_value_heads=4, intermediate_size=18944, rms_norm_eps=1e-6,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
                         **special),
        vision_config=dict(depth=32, hidden_size=1280, num_heads=16, intermediate_size=3420, out_hidden_size=3584,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                           fullatt_block_indexes=[7, 15, 23, 31]))
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration(cfg)
    finally:
        torch.set_default_dtype(torch.float32)
    model.gradient_checkpointing_enable()
    model.config.use_cache = False
    ip = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=448 * 448, patch_size=14, temporal_patch_size=2,
                                  merge_size=2)
    return HFVLMScorer.from_parts(model, tok, ip, device=device)


def timed_steps(method, steps: int) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    torch.cuda.synchronize()
    method.train_step(0)  # warm-up (allocator, kernels)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        method.train_step(step)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    counter = FlopCounterMode(display=False)
    with counter:
        method.train_step(steps + 1)
    return {"step_seconds": min(times), "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
            "flops_per_step": counter.get_total_flops()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--lora-rank", type=int, default=64)
    ap.add_argument("--methods", default="npedit,flow_grpo")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_smoke.py needs a CUDA device")
    from trl.trainer.utils import get_peak_flops

    from benchmarks.tiny_checkpoints import write_jsonl_data
    from harness import registry
    from harness.config import load_config
    from harness.engine import Engine, EngineConfig
    from harness.method import RunContext
    from harness.models.flux_kontext import FluxKontextGenerator

    device = "cuda"
    t0 = time.perf_counter()
    pipe, judge = build_kontext(device), build_judge(device)
    build_s = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="gpu_smoke_"))
    (tmp / "kontext").mkdir()
    (tmp / "kontext" / "model_index.json").write_text("{}")  # satisfies the config check; the family is in memory
    data = write_jsonl_data(tmp / "data", n=8, size=args.resolution)

    class SmokeJudge:
        @classmethod
        def from_context(cls, ctx):
            return judge

    registry.scorers.register("smoke_judge", SmokeJudge)
    peak = get_peak_flops(torch.cuda.get_device_name(), "bfloat16")
    report = {"device": torch.cuda.get_device_name(), "build_seconds": round(build_s, 1),
              "params_transformer_B": sum(p.numel() for p in pipe.transformer.parameters()) / 1e9,
              "params_judge_B": sum(p.numel() for p in judge.model.parameters()) / 1e9}
    for name in args.methods.split(","):
        per_method = {"npedit": ["npedit.single_step_iters=0", "npedit.batch_size=1", "npedit.aux_updates_per_step=1"],
                      "flow_grpo": ["flow_grpo.batch_size=1", "flow_grpo.group_size=4", "flow_grpo.rollout_steps=6"],
                      "supervised": ["supervised.batch_size=1"]}[name]
        cfg = load_config("default", [
            f"methods={name}", "calibration=[]", "generator=flux_kontext", f"generator.path={tmp / 'kontext'}",
            f"generator.resolution={args.resolution}", "generator.dtype=bfloat16", "generator.gradient_checkpointing=true",
            f"generator.lora_rank={args.lora_rank}", f"generator.lora_alpha={2 * args.lora_rank}", "scorer=smoke_judge",
            f"data.unpaired={data['unpaired']}", f"data.paired={data['paired']}", *per_method])
        family = FluxKontextGenerator(cfg.run.generator, device=device, pipe=pipe)
        ctx = RunContext(cfg=cfg, run_dir=tmp / name, home=tmp, device=torch.device(device),
                         extras={"generators": {"flux_kontext": family}})
        (tmp / name).mkdir()
        method = registry.methods.load(name)(cfg.methods[name], ctx, name=name)
        method.setup(Engine(EngineConfig(micro_batch_size=1), trained=list(method.trained_models)))
        stats = timed_steps(method, args.steps)
        stats["mfu"] = stats["flops_per_step"] / stats["step_seconds"] / peak if peak else None
        report[name] = stats
        print(json.dumps({name: stats}), flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
