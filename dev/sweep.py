"""GPU sweep (developer tool, not part of the package): learning curves of embedded-model configs.

python dev/sweep.py teacher NAME '{"patch_size": 2}' WALL_S PROBE_EVERY OUTDIR
python dev/sweep.py judge NAME '{"lr": 3e-3}' WALL_S PROBE_EVERY OUTDIR
Writes OUTDIR/NAME.json after every probe: [{step, train_s, ...metrics}].
"""
import json
import sys
import time
from pathlib import Path

import torch

kind, name, overrides, wall, every, outdir = sys.argv[1:7]
overrides, wall, every, outdir = json.loads(overrides), float(wall), int(every), Path(outdir)
outdir.mkdir(parents=True, exist_ok=True)
dev = "cuda" if torch.cuda.is_available() else "cpu"
torch.set_num_threads(1)
torch.backends.cuda.matmul.allow_tf32 = True
curve, t_start = [], time.time()


class Stop(Exception):
    pass


def dump():
    (outdir / f"{name}.json").write_text(json.dumps({"name": name, "kind": kind, "overrides": overrides,
                                                     "curve": curve}, indent=1))


if kind == "teacher":
    from harness.models.teacher import TeacherConfig, caption_match_rate, train_teacher

    cfg = TeacherConfig(**overrides)

    def probe(step, train_s, model):
        r = {"step": step, "train_s": round(train_s, 1), "wall": round(time.time() - t_start, 1)}
        if model.vae is not None and not curve:
            r["vae"] = vae_check(model)
        for cs in (3.0, 5.0):
            m = caption_match_rate(model, n=128, steps=25, cfg_scale=cs)
            m.pop("examples")
            r[f"cfg{cs:g}"] = {k: m[k] for k in ("match", "background", "objects", "clean", "explained_mean")}
        curve.append(r)
        print(name, json.dumps(r), flush=True)
        dump()
        if time.time() - t_start > wall:
            if len(sys.argv) > 7:  # save a sample grid and the (EMA) weights
                save_grid(model)
                model.save_pretrained(outdir / f"{name}_model")
            raise Stop

    def vae_check(model):
        import numpy as np

        from harness.world import oracle
        from harness.world.render import render_batch
        from harness.world.scene import random_scene
        rng = np.random.default_rng(9)
        x = render_batch([random_scene(rng) for _ in range(128)], 32)
        with torch.no_grad():
            rec = model.decode(model.encode_image(x)).cpu()
        err = (rec - x).abs().amax(1)
        parsed = [oracle.parse(im) for im in rec]
        return {"within_0.1": float((err < 0.1).float().mean()), "max_err": float(err.max()),
                "explained_content": float(np.mean([p.explained_content for p in parsed])),
                "scene_exact": float(np.mean([p.scene == oracle.parse(im).scene for p, im in zip(parsed, x)]))}

    def save_grid(model):
        import numpy as np
        from PIL import Image

        from harness.models.samplers import euler_sample
        from harness.world.scene import random_scene
        from harness.world.text import caption
        rng = np.random.default_rng(5)
        caps = [caption(random_scene(rng)) for _ in range(32)]
        g = torch.Generator().manual_seed(3)
        res = model.transformer.config.sample_size
        noise = torch.randn((32, model.channels, res, res), generator=g).to(model.device)
        with torch.no_grad():
            img = model.decode(euler_sample(model, caps, 25, noise, cfg_scale=3.0)).cpu()
        grid = img.reshape(4, 8, 3, 32, 32).permute(0, 3, 1, 4, 2).reshape(128, 256, 3)
        Image.fromarray((grid.numpy() * 255).round().astype("uint8")).resize((512, 256), 0).save(
            outdir / f"{name}.png")
        (outdir / f"{name}_captions.txt").write_text("\n".join(caps))

    try:
        train_teacher(cfg, outdir / f"{name}_model", progress=False, probe=probe, probe_every=every, device=dev)
    except Stop:
        pass
else:
    from harness.scorers.judge_config import JudgeConfig
    from harness.scorers.tiny_judge import evaluate_judge, train_judge

    cfg = JudgeConfig(**overrides)

    def on_step(step, scorer):
        if (step + 1) % every:
            return
        scorer.model.eval()
        acc = evaluate_judge(scorer, n=140)
        scorer.model.train()
        keep = {k: round(v, 3) for k, v in acc.items() if "/" not in k and k != "n"}
        r = {"step": step + 1, "wall": round(time.time() - t_start, 1), **keep,
             "min": min(v for k, v in keep.items())}
        curve.append(r)
        print(name, json.dumps(r), flush=True)
        dump()
        if time.time() - t_start > wall:
            raise Stop

    try:
        train_judge(cfg, outdir / f"{name}_model", log=None, device=dev, on_step=on_step)
    except Stop:
        pass
dump()
