"""Tiny random models shared by the method tests (built in memory, never downloaded)."""

import pytest
import torch

from harness.models.edit_model import EditModel
from harness.scorers.scorer import HFVLMScorer
from harness.embedded.judge.config import JudgeConfig
from harness.embedded.judge.model import build_model, build_processor

TINY_JUDGE = JudgeConfig(vision_hidden=32, vision_layers=1, vision_heads=2, text_hidden=32, text_layers=1,
                         text_heads=2, text_intermediate=64)


@pytest.fixture(scope="session")
def tiny_scorer():
    proc = build_processor(TINY_JUDGE)
    model = build_model(TINY_JUDGE, proc.tokenizer)
    return HFVLMScorer.from_parts(model, proc.tokenizer, proc.image_processor, processor=proc)


@pytest.fixture
def tiny_teacher():
    torch.manual_seed(0)
    model = EditModel.tiny_sd3(num_layers=1, num_heads=2, head_dim=16, caption_projection_dim=32,
                               text_hidden=32, text_layers=1, text_heads=2, train_text_encoder=False)
    return model.requires_grad_(False).eval()
