"""prepare trains the teacher, the editor initialisation and the judge (tiny configs here) and reuses them;
probes write JSON."""

import json

import pytest

from harness.cli import main

TINY = [
    "teacher.steps=3", "teacher.batch_size=4", "teacher.text_hidden=32", "teacher.text_layers=1",
    "teacher.warmup_steps=1", "teacher.ema_decay=0.0", "teacher.unet_channels=[8,16,16]", "teacher.unet_heads=2",
    "teacher.text_pretrain_steps=2",
    "judge.steps=3", "judge.vision_hidden=32", "judge.vision_layers=1", "judge.vision_heads=2", "judge.text_hidden=32",
    "judge.text_layers=1", "judge.text_heads=2", "judge.text_intermediate=64", "judge.pair_batch=4",
    "judge.single_batch=4", "judge.warmup=1",
    "judge.vision_pretrain_steps=2", "judge.vision_pretrain_batch=4",
    "editor.steps=3", "editor.warmup_steps=1",
    "world.n_unpaired=7", "world.n_paired=7", "world.n_eval=7",
]


def _manifests(home):
    return {p: p.stat().st_mtime_ns for p in home.glob("*/*/manifest.json")}


def test_prepare_trains_every_model_once(harness_home, capsys):
    assert main(["prepare", *TINY]) == 0
    first = _manifests(harness_home)
    assert {p.parent.parent.name for p in first} == {"teacher", "judge", "editor"}
    assert main(["prepare", *TINY]) == 0
    assert _manifests(harness_home) == first  # reused, not rebuilt
    def weights():
        files = json.loads(next(harness_home.glob("editor/*/manifest.json")).read_text())["files"]
        return {k: v for k, v in files.items() if k.endswith(".safetensors")}

    editor_weights = weights()
    assert len(editor_weights) >= 2  # transformer and text encoder
    assert main(["prepare", "--force", *TINY]) == 0
    assert all(first[p] != m for p, m in _manifests(harness_home).items())
    # the rebuilt editor initialisation is the same bit for bit (one thread, seeded): what a shipped copy claims
    assert weights() == editor_weights
    assert "models ready" in capsys.readouterr().out


@pytest.mark.parametrize("what", ["teacher", "judge", "editor"])
def test_probe_writes_its_json(what, tmp_path):
    assert main(["probe", what, *TINY, "probe.n=7", "probe.steps=2", f"output_dir={tmp_path}"]) == 0
    result = json.loads((tmp_path / f"{what}_probe.json").read_text())
    assert result["n"] >= 7
    if what == "teacher":
        assert 0 <= result["caption_match"] <= 1 and 0 <= result["realism"] <= 1
    elif what == "editor":
        assert {"euler8", "few_step4"} <= set(result)
        assert all(0 <= result[s][m] <= 1 for s in ("euler8", "few_step4") for m in ("edit_success", "realism"))
    else:
        assert {"edit", "identity", "presence"} <= set(result["clean"])
        assert set(result["noisy"]) == {"0.25", "0.5", "0.75", "1.0"}
        assert all(set(v) == {"x_t", "x0_pred"} for v in result["noisy"].values())


def _probed_train(cfg_dict: dict, out_dir: str) -> int:
    """A learning-curve run as the shipped models were trained: a fresh process, one thread, probes on the EMA."""
    import torch

    from harness.embedded.teacher.config import TeacherConfig
    from harness.embedded.teacher.train import train_teacher
    from harness.embedded.probes import probe_teacher

    torch.set_num_threads(1)
    probed = []
    train_teacher(TeacherConfig(**cfg_dict), out_dir, progress=False, probe_every=2,
                  probe=lambda step, s, model: probed.append(probe_teacher(model, n=4, steps=2, batch_size=4)))
    return len(probed)


def test_prepare_force_rebuilds_exactly_the_teacher_a_probed_run_trained(harness_home, tmp_path):
    """The shipped teacher was trained by train_teacher with learning-curve probes, in its own one-thread
    process; its shipped.json says `prepare --force` makes it. That holds only if a probe leaves the training
    stream alone (it swaps the EMA in and back) and prepare's worker trains the same weights. Both run in fresh
    processes: trained inside this one after other tests, the weights differed (some leftover global state,
    not identified), and a user's runs start fresh."""
    import multiprocessing as mp
    from dataclasses import asdict

    import torch
    from safetensors.torch import load_file

    from harness.config import load_config

    swap = {"teacher.ema_decay=0.0": "teacher.ema_decay=0.9", "teacher.steps=3": "teacher.steps=6"}  # EMA on: 3 probes
    tiny = [swap.get(o, o) for o in TINY]
    cfg = load_config("default", tiny).run.teacher
    with mp.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_probed_train, (asdict(cfg), str(tmp_path / "probed"))) == 3
    assert main(["prepare", "--force", *tiny]) == 0
    (entry,) = (harness_home / "teacher").iterdir()
    for part in ("transformer/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"):
        ours, built = load_file(tmp_path / "probed" / part), load_file(entry / part)
        assert ours.keys() == built.keys()
        assert all(torch.equal(ours[k], built[k]) for k in ours), part
