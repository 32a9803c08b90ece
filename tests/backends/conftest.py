"""Tiny random checkpoints in the official layouts, built once per test session (a few seconds, offline)."""

import pytest


@pytest.fixture(scope="session")
def kontext_dir(tmp_path_factory):
    from benchmarks.tiny_checkpoints import build_tiny_kontext

    return build_tiny_kontext(tmp_path_factory.mktemp("kontext"))


@pytest.fixture(scope="session")
def qwen25vl_dir(tmp_path_factory):
    from benchmarks.tiny_checkpoints import build_tiny_qwen25vl

    return build_tiny_qwen25vl(tmp_path_factory.mktemp("qwen25vl"))


@pytest.fixture(scope="session")
def jsonl_data(tmp_path_factory):
    from benchmarks.tiny_checkpoints import write_jsonl_data

    return write_jsonl_data(tmp_path_factory.mktemp("data"))


def kontext_family(path, **kw):
    from harness.models.flux_kontext import FluxKontextGenerator
    from harness.run_sections import GeneratorConfig

    return FluxKontextGenerator(GeneratorConfig(name="flux_kontext", path=str(path), **{"lora_rank": 4,
                                                                                        "lora_alpha": 8.0, **kw}))


@pytest.fixture(scope="session")
def qwen_edit_dir(tmp_path_factory):
    from benchmarks.tiny_checkpoints import build_tiny_qwen_image_edit

    return build_tiny_qwen_image_edit(tmp_path_factory.mktemp("qwen_image_edit"))


def qwen_edit_family(path, **kw):
    from harness.models.qwen_image_edit import QwenImageEditGenerator
    from harness.run_sections import GeneratorConfig

    return QwenImageEditGenerator(GeneratorConfig(name="qwen_image_edit", path=str(path),
                                                  **{"lora_rank": 4, "lora_alpha": 8.0, **kw}))


def qwen_edit_pipeline(path, shift_terminal: bool = True):
    """diffusers' own QwenImageEdit(Plus)Pipeline on a tiny folder, with the checkpoint's own scheduler (its
    shift_terminal stretch included; ``False`` drops it, for a 1-step call, which the stretch turns into NaN).
    Its Qwen2VLProcessor is built with the class check skipped (the check needs torchvision; reference §3.3
    item 3)."""
    from unittest import mock

    from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler
    from transformers import AutoTokenizer, ProcessorMixin, Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    with mock.patch.object(ProcessorMixin, "check_argument_for_proper_class", lambda *a, **k: None):
        processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessorPil.from_pretrained(path / "processor"),
                                     tokenizer=AutoTokenizer.from_pretrained(path / "processor"), video_processor=None)
    pipe = DiffusionPipeline.from_pretrained(str(path), processor=processor)
    if not shift_terminal:
        pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config, shift_terminal=None)
    pipe.set_progress_bar_config(disable=True)
    return pipe
