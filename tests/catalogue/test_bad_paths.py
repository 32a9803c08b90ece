"""Catalogue, paths: missing, a file where a folder is expected, unwritable output, a checkpoint without its
COMPLETE marker, a truncated safetensors file, a model folder of the wrong family. One line, exit 2."""

import json
import os

import pytest
import torch

from harness.checkpoint import MARKER
from harness.models.edit_model import EditModel
from tests.catalogue.conftest import one_line_error


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory):
    """A run directory holding one exported generator, as `harness run methods=supervised` leaves it."""
    run = tmp_path_factory.mktemp("sft")
    torch.manual_seed(0)
    EditModel.tiny_sd3(num_layers=1, num_heads=2, head_dim=16, caption_projection_dim=32, text_hidden=32,
                       text_layers=1, text_heads=2).save_pretrained(run / "models" / "supervised")
    return run


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _copy_tree(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_output_dir_under_a_file(cli, tmp_path):
    (tmp_path / "f").write_text("x")
    code, err = cli("run", "methods=copy", f"output_dir={tmp_path / 'f' / 'run'}")
    one_line_error(code, err, "output_dir", "is a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any permission bits")
def test_unwritable_output_dir(cli, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    code, err = cli("run", "methods=copy", f"output_dir={ro / 'run'}")
    one_line_error(code, err, "output_dir", "not writable")


def test_missing_preset_file(cli, tmp_path):
    code, err = cli("run", "--config", str(tmp_path / "nope.yaml"), "methods=copy")
    one_line_error(code, err, "nope.yaml", "not found")


@pytest.mark.parametrize("what", ["missing", "file"])
def test_report_of_a_folder_that_is_not_a_run(cli, tmp_path, what):
    target = tmp_path / "x"
    if what == "file":
        target.write_text("x")
    code, err = cli("report", str(target))
    one_line_error(code, err, str(target), "scores.jsonl")


def test_resume_from_a_missing_checkpoint(cli, tmp_path):
    code, err = cli("run", "methods=copy", f"resume={tmp_path / 'nope'}", f"output_dir={tmp_path / 'o'}")
    one_line_error(code, err, "resume=", "no such checkpoint folder", "resume=auto")


def test_resume_from_a_checkpoint_without_its_marker(cli, faulty, tmp_path):
    out = tmp_path / "o"
    assert cli("run", "methods=faulty", "calibration=[]", "world.n_eval=7", "faulty.steps=2", f"output_dir={out}")[0] == 0
    ckpt = out / "checkpoints" / "faulty" / "step-00000002"
    (ckpt / MARKER).unlink()  # as if the save had been cut short
    code, err = cli("run", "methods=copy", f"resume={ckpt}", f"output_dir={tmp_path / 'o2'}")
    one_line_error(code, err, str(ckpt), MARKER)


def test_resume_auto_passes_over_a_checkpoint_without_its_marker(cli, faulty, tmp_path):
    out = tmp_path / "o"
    args = ["run", "methods=faulty", "calibration=[]", "world.n_eval=7", "faulty.steps=4", f"output_dir={out}"]
    assert cli(*args)[0] == 0
    root = out / "checkpoints" / "faulty"
    (root / "step-00000004" / MARKER).unlink()
    (out / "scores.jsonl").unlink()  # score again, so the resumed training must run
    assert cli(*args)[0] == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    resumed = [r for r in rows if r.get("event") == "resume"]
    assert len(resumed) == 1 and resumed[0]["step"] == 2  # the marked step-2, not the unmarked step-4
    assert (root / "step-00000004" / MARKER).exists()  # step 4 was trained and saved again


def test_resume_from_a_checkpoint_with_a_truncated_weights_file(cli, faulty, tmp_path):
    out = tmp_path / "o"
    assert cli("run", "methods=faulty", "calibration=[]", "world.n_eval=7", "faulty.steps=2", f"output_dir={out}")[0] == 0
    ckpt = out / "checkpoints" / "faulty" / "step-00000002"
    weights = next(ckpt.rglob("*.safetensors"))
    _truncate(weights)
    code, err = cli("run", "methods=copy", f"resume={ckpt}", f"output_dir={tmp_path / 'o2'}")
    one_line_error(code, err, weights.name, "truncated")


def test_init_from_a_truncated_safetensors_file(cli, exported_run, tmp_path):
    run = _copy_tree(exported_run, tmp_path / "run")
    weights = run / "models" / "supervised" / "transformer" / "diffusion_pytorch_model.safetensors"
    _truncate(weights)
    code, err = cli("run", "methods=flow_grpo", f"flow_grpo.init_from={run}", f"output_dir={tmp_path / 'o'}")
    one_line_error(code, err, "flow_grpo.init_from", "diffusion_pytorch_model.safetensors", "truncated")


def test_init_from_a_file_that_is_not_safetensors(cli, exported_run, tmp_path):
    run = _copy_tree(exported_run, tmp_path / "run")
    (run / "models" / "supervised" / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(b"<html>404")
    code, err = cli("run", "methods=flow_grpo", f"flow_grpo.init_from={run}", f"output_dir={tmp_path / 'o'}")
    one_line_error(code, err, "flow_grpo.init_from", "safetensors")


def test_chain_to_a_run_that_lacks_the_method(cli, exported_run, tmp_path):
    code, err = cli("run", "methods=flow_grpo", f"flow_grpo.init_from={exported_run}:npedit",
                    f"output_dir={tmp_path / 'o'}")
    one_line_error(code, err, "flow_grpo.init_from", "no generator 'npedit'", "supervised")


def test_init_from_a_file(cli, tmp_path):
    (tmp_path / "f").write_text("x")
    code, err = cli("run", "methods=supervised", f"supervised.init_from={tmp_path / 'f'}", f"output_dir={tmp_path / 'o'}")
    one_line_error(code, err, "init_from", "does not exist")


@pytest.mark.parametrize("family", ["bert", "editor", "truncated_llava"])
def test_scorer_path_of_the_wrong_family_or_broken(family, cli, exported_run, tmp_path):
    folder = tmp_path / "vlm"
    if family == "editor":  # a generator export is not a VLM checkpoint
        folder = exported_run / "models" / "supervised"
        must = ["no readable config.json"]
    else:
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": "bert" if family == "bert" else "llava"}))
        must = ["'bert'", "llava"] if family == "bert" else ["model.safetensors", "truncated"]
        if family == "truncated_llava":
            (folder / "model.safetensors").write_bytes((100).to_bytes(8, "little") + b"{}")
    code, err = cli("run", "methods=npedit", "npedit.scorer=hf", f"scorer_path={folder}", f"output_dir={tmp_path / 'o'}")
    one_line_error(code, err, "scorer_path", *must)


def test_gedit_and_imgedit_folders_that_are_files(cli, tmp_path):
    (tmp_path / "f").write_text("x")
    one_line_error(*cli("run", "methods=copy", "suites=gedit", f"gedit.path={tmp_path / 'f'}",
                        f"output_dir={tmp_path / 'o'}"), "gedit.path", "is a file")
    one_line_error(*cli("run", "methods=copy", "suites=imgedit", f"imgedit.path={tmp_path}",
                        f"imgedit.images={tmp_path / 'f'}", f"output_dir={tmp_path / 'o'}"),
                   "imgedit.images", "not a folder")
