"""The teacher's text-encoder pretraining: its targets follow the caption, and it teaches the encoder."""
import numpy as np
import torch

from harness.embedded.teacher.config import TeacherConfig
from harness.embedded.teacher.text_pretrain import (
    BGS,
    IGNORE,
    PAIRS,
    caption_targets,
    pretrain_text_encoder,
)
from harness.models.text_encoder import TextEncoder
from harness.world.scene import Obj, Scene
from harness.world.text import caption


def test_caption_targets_put_each_binding_on_its_shape_word():
    scene = Scene("gray", (Obj("triangle", "orange", "small", 1, 1), Obj("circle", "red", "large", 5, 5)))
    te = TextEncoder.build(hidden_size=16, num_layers=1, num_heads=2)
    tokens, multi, bg, count = caption_targets(scene, te)
    words = caption(scene).split()  # "a red circle and an orange triangle on a gray background"
    labelled = {words[i]: tokens[i] for i in range(len(words)) if tokens[i] != IGNORE}
    assert labelled == {"circle": PAIRS.index(("red", "circle")), "triangle": PAIRS.index(("orange", "triangle")),
                        "background": len(PAIRS) + BGS.index("gray")}
    assert len(tokens) == te.max_length and all(t == IGNORE for t in tokens[len(words):])
    assert sum(multi) == 2 and multi[PAIRS.index(("orange", "triangle"))] == 1.0
    assert (bg, count) == (BGS.index("gray"), 2)
    # the token positions are the tokenizer's: one token per word
    ids = te.tokenize([caption(scene)])["input_ids"][0].tolist()
    assert te.tokenizer.convert_ids_to_tokens(ids[words.index("triangle")]) == "triangle"


def test_pretraining_teaches_the_pooled_output_the_objects():
    torch.manual_seed(0)
    te = TextEncoder.build(hidden_size=32, num_layers=2, num_heads=2)
    before = [p.detach().clone() for p in te.parameters()]
    short = pretrain_text_encoder(te, steps=5, batch_size=16, seed=1)
    torch.manual_seed(0)
    te = TextEncoder.build(hidden_size=32, num_layers=2, num_heads=2)
    long = pretrain_text_encoder(te, steps=80, batch_size=16, seed=1)
    assert long["loss"] < 0.5 * short["loss"]
    assert long["bg"] > 0.9 and long["count"] > 0.9 and long["token"] > 0.5
    assert any(not torch.equal(a, b) for a, b in zip(before, te.parameters()))


def test_text_pretraining_options_stay_out_of_the_cache_key_while_off():
    assert "text_pretrain_steps" not in TeacherConfig(text_pretrain_steps=0).cache_key()  # teachers cached before it
    assert TeacherConfig(text_pretrain_steps=10).cache_key()["text_pretrain_steps"] == 10


def test_caption_targets_cover_scenes_of_every_size():
    rng = np.random.default_rng(0)
    te = TextEncoder.build(hidden_size=16, num_layers=1, num_heads=2)
    from harness.world.scene import random_scene
    for _ in range(50):
        s = random_scene(rng, 0, 3)
        tokens, _, bg, count = caption_targets(s, te)
        labels = [t for t in tokens if t != IGNORE]
        assert len(labels) == count + 1 and labels[-1] == len(PAIRS) + bg  # one per object, then the background
