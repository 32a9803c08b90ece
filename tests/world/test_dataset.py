import dataclasses
import json
from collections import Counter

import pytest
import torch

from harness.world.dataset import (
    EditSample,
    PairedDataset,
    UnpairedDataset,
    WorldConfig,
    build_split,
    collate_samples,
    result_combo,
    world_hash,
)
from harness.world.edits import CATEGORIES, RESULT_CATEGORIES
from harness.world.scene import Scene, is_valid
from harness.world.text import caption, vocabulary

SMALL = dict(n_unpaired=210, n_paired=210, n_eval=140, seed=11)


@pytest.fixture(scope="module")
def splits():
    cfg = WorldConfig(**SMALL)
    return {s: build_split(cfg, s) for s in ("unpaired", "paired", "eval")}


def test_same_config_same_bytes(splits):
    again = build_split(WorldConfig(**SMALL), "paired")
    for a, b in zip(splits["paired"], again):
        assert torch.equal(a.source, b.source) and torch.equal(a.target, b.target)
        assert (a.id, a.instruction, a.spec, a.source_scene, a.target_scene) == (
            b.id, b.instruction, b.spec, b.source_scene, b.target_scene)
    other = build_split(WorldConfig(**{**SMALL, "seed": 12}), "paired")
    assert [s.instruction for s in other] != [s.instruction for s in splits["paired"]]


def test_splits_use_different_streams(splits):
    scenes = {k: [s.source_scene for s in v[:100]] for k, v in splits.items()}
    assert scenes["paired"] != scenes["unpaired"] != scenes["eval"]
    assert sum(a == b for a, b in zip(scenes["paired"], scenes["unpaired"])) < 10


def test_sizes_and_validity(splits):
    assert [len(splits[k]) for k in ("unpaired", "paired", "eval")] == [210, 210, 140]
    for split in ("paired", "eval"):
        for s in splits[split]:
            assert is_valid(s.source_scene) and is_valid(s.target_scene)
            assert s.source.shape == (3, 32, 32) and s.target.shape == (3, 32, 32)
            assert s.source_caption == caption(s.source_scene)
            assert s.target_caption == caption(s.target_scene)
            json.dumps(s.spec)
            json.dumps(s.source_scene.to_dict())
            assert Scene.from_dict(s.target_scene.to_dict()) == s.target_scene


def test_unpaired_has_no_targets(splits):
    for s in splits["unpaired"]:
        assert s.target is None and s.target_scene is None
    ds = UnpairedDataset(splits["unpaired"])
    for i in range(len(ds)):
        item = ds[i]
        assert "target" not in item and "target_scene" not in item
        assert set(item) == {"source", "instruction", "category", "source_caption", "target_caption", "object_name"}
    # even when handed full samples, the unpaired dataset strips targets
    ds = UnpairedDataset(splits["paired"][:5])
    assert all(s.target is None for s in ds.samples) and "target" not in ds[0]


def test_paired_dataset_and_collate(splits):
    ds = PairedDataset(splits["paired"])
    batch = collate_samples([ds[i] for i in range(4)])
    assert batch["source"].shape == (4, 3, 32, 32) and batch["target"].shape == (4, 3, 32, 32)
    assert isinstance(batch["instruction"], list) and len(batch["instruction"]) == 4
    loader = torch.utils.data.DataLoader(UnpairedDataset(splits["unpaired"]), batch_size=8, collate_fn=collate_samples)
    b = next(iter(loader))
    assert b["source"].shape == (8, 3, 32, 32) and "target" not in b
    with pytest.raises(ValueError):
        PairedDataset(splits["unpaired"][:2])


def test_without_target_copies():
    s = build_split(WorldConfig(n_unpaired=0, n_paired=0, n_eval=7), "eval")[0]
    t = s.without_target()
    assert t.target is None and t.target_scene is None
    assert s.target is not None and isinstance(t, EditSample)


def test_heldout_only_in_eval(splits):
    held = WorldConfig().heldout_pairs()
    for split in ("unpaired", "paired"):
        for s in splits[split]:
            assert result_combo(s.category, s.spec, s.source_scene) not in held, (split, s.instruction)
    res = [result_combo(s.category, s.spec, s.source_scene) for s in splits["eval"] if s.category in RESULT_CATEGORIES]
    frac = sum(r in held for r in res) / len(res)
    assert frac >= 0.25
    assert {r for r in res if r in held} == set(held)


def test_heldout_result_matches_target(splits):
    # result_combo agrees with the object actually present in the target scene
    for s in splits["eval"]:
        combo = result_combo(s.category, s.spec, s.source_scene)
        if combo is not None:
            assert combo in {(o.color, o.shape) for o in s.target_scene.objects}


def test_categories_balanced(splits):
    for split in splits.values():
        counts = Counter(s.category for s in split)
        assert set(counts) == set(CATEGORIES)
        assert max(counts.values()) - min(counts.values()) <= 1
    sub = build_split(WorldConfig(n_unpaired=0, n_paired=10, n_eval=1, categories=["resize", "subject-move"]), "paired")
    assert Counter(s.category for s in sub) == {"resize": 5, "subject-move": 5}


def test_move_and_resize_keep_caption(splits):
    for s in splits["eval"]:
        if s.category in ("subject-move", "resize"):
            assert s.source_caption == s.target_caption
        else:
            assert s.source_caption != s.target_caption


def test_words_in_vocabulary(splits):
    vocab = set(vocabulary())
    assert all(w == w.lower() for w in vocab)
    for split in splits.values():
        for s in split:
            for text in (s.instruction, s.source_caption, s.target_caption, s.object_name):
                assert set(text.split()) <= vocab, text


@pytest.mark.parametrize(
    "field,value",
    [
        ("resolution", 8),
        ("resolution", 33),
        ("n_unpaired", -1),
        ("n_paired", -5),
        ("n_eval", -1),
        ("seed", -1),
        ("categories", ["color_alter", "teleport"]),
        ("categories", []),
        ("heldout", ["pink triangle"]),
        ("heldout", ["red hexagon"]),
        ("heldout", ["red"]),
    ],
)
def test_config_validation_names_field(field, value):
    with pytest.raises(ValueError, match=field):
        WorldConfig(**{field: value})


def test_config_validation_lists_allowed():
    with pytest.raises(ValueError, match="subject-remove"):
        WorldConfig(categories=["teleport"])
    cfg = WorldConfig()
    cfg.resolution = 12
    with pytest.raises(ValueError, match="resolution"):
        cfg.validate()


def test_world_hash():
    base = WorldConfig()
    h = world_hash(base)
    assert h == world_hash(WorldConfig()) and len(h) == 16
    for field, value in [("resolution", 64), ("n_unpaired", 1), ("n_paired", 1), ("n_eval", 1), ("seed", 1),
                         ("categories", ["resize"]), ("heldout", ["red circle"])]:
        assert world_hash(dataclasses.replace(base, **{field: value})) != h, field


def test_resolution_64():
    ev = build_split(WorldConfig(resolution=64, n_unpaired=0, n_paired=0, n_eval=14), "eval")
    assert ev[0].source.shape == (3, 64, 64)
