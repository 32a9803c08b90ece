"""A tiny random judge (the embedded judge's architecture, built in memory), shared by the scorer, the
embedded-judge and the judge-protocol tests: their conftest.py files import these fixtures."""
import pytest
import torch

from harness.embedded.judge.config import JudgeConfig
from harness.embedded.judge.model import build_model, build_processor
from harness.scorers.scorer import HFVLMScorer

# Smallest judge that still exercises every code path; keeps the suite fast on 2 cores.
TINY = dict(vision_hidden=32, vision_layers=1, vision_heads=2, text_hidden=32, text_layers=1, text_heads=2,
            text_intermediate=64, pair_batch=8, single_batch=8, warmup=5, vqa_batch=4, vision_pretrain_steps=2,
            vision_pretrain_batch=4)


@pytest.fixture(scope="session")
def tiny_cfg():
    return JudgeConfig(**TINY)


@pytest.fixture(scope="session")
def tiny_saved(tmp_path_factory, tiny_cfg):
    """A randomly initialised tiny judge saved like a checkpoint."""
    d = tmp_path_factory.mktemp("tiny_judge")
    proc = build_processor(tiny_cfg)
    model = build_model(tiny_cfg, proc.tokenizer)
    model.save_pretrained(d)
    proc.save_pretrained(d)
    return d, model, proc


@pytest.fixture
def tiny_scorer(tiny_saved):
    return HFVLMScorer(str(tiny_saved[0]))


def rand_images(b, seed=0, res=32):
    g = torch.Generator().manual_seed(seed)
    # uint8-representable values, as an image decoded from disk would be
    return torch.randint(0, 256, (b, 3, res, res), generator=g).float() / 255


@pytest.fixture
def images():
    return rand_images
