from dataclasses import replace

import pytest
import torch

from harness.embedded.judge.model import build_model, build_processor
from harness.embedded.judge.train import train_judge
from harness.embedded.judge.vision_pretrain import (
    COVER_MIN,
    DenseHeads,
    pretrain_vision_tower,
    scene_targets,
    token_grid,
)


@pytest.fixture(autouse=True)
def one_thread():
    # tiny matmuls: a second thread only adds contention (15x slower on a busy 2-core box)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("cover,min_color", [(False, 0.5), (True, 0.35)])
def test_pretraining_makes_objects_decodable(tiny_cfg, cover, min_color):
    cfg = replace(tiny_cfg, vision_pretrain_steps=40, vision_pretrain_batch=32, vision_pretrain_lr=3e-3,
                  vision_pretrain_cover=cover)
    proc = build_processor(cfg)
    tower = build_model(cfg, proc.tokenizer).model.vision_tower
    acc = pretrain_vision_tower(tower, cfg, log=None, image_processor=proc.image_processor)
    # chance: 1/4 background, 1/7 colour at the object cells (cover: also at edge cells, harder)
    assert acc["background"] > 0.8, acc
    assert acc["color"] > min_color, acc


def test_stage_changes_only_the_vision_tower(tiny_cfg, tmp_path):
    from transformers import LlavaForConditionalGeneration

    cfg = replace(tiny_cfg, steps=0, vision_pretrain_steps=3, vision_pretrain_batch=8)
    summary = train_judge(cfg, tmp_path, log=None)
    assert summary["vision_pretrain"] is not None and 0 <= summary["vision_pretrain"]["color"] <= 1
    fresh = build_model(cfg, build_processor(cfg).tokenizer).state_dict()
    trained = LlavaForConditionalGeneration.from_pretrained(tmp_path).state_dict()
    tower = [k for k in fresh if ".vision_tower." in k]
    rest = [k for k in fresh if ".vision_tower." not in k]
    assert tower and rest
    assert any(not torch.equal(fresh[k], trained[k]) for k in tower)
    for k in rest:  # language model, projector, lm_head: untouched by the stage
        assert torch.equal(fresh[k], trained[k]), k


@pytest.mark.parametrize("patch", [2, 4, 8, 16])
def test_heads_map_tokens_onto_their_cells(tiny_cfg, patch):
    g = token_grid(replace(tiny_cfg, patch_size=patch))
    heads = DenseHeads(4, g)
    with torch.no_grad():
        heads.cell.weight.zero_()
        heads.cell.bias.zero_()
        heads.cell.weight[:, 0] = 1.0
    ty, tx = g - 1, 0  # bottom-left token
    tokens = torch.zeros(1, g * g, 4)
    tokens[0, ty * g + tx, 0] = 1.0
    cells, _ = heads(tokens)
    hit = (cells[0, ..., 0] != 0).nonzero().tolist()
    if g <= 8:
        c = 8 // g
        assert sorted(hit) == [[ty * c + i, tx * c + j] for i in range(c) for j in range(c)]
    else:
        assert hit == [[ty // (g // 8), 0]]


def test_patch_must_tile_the_cell_grid(tiny_cfg):
    with pytest.raises(ValueError, match="cell grid"):
        token_grid(replace(tiny_cfg, image_size=48, patch_size=16))  # 3 tokens per side vs 8 cells


def test_cover_targets_put_attributes_on_every_covered_cell():
    from harness.world.palette import SHAPES
    from harness.world.render import object_mask
    from harness.world.scene import Obj, Scene

    big = Obj("triangle", "red", "large", 2, 2)
    small = Obj("circle", "blue", "small", 6, 5)
    scene = Scene("white", (big, small))
    only_center = scene_targets([scene])["shape"][0]
    assert set(map(tuple, (only_center >= 0).nonzero().tolist())) == {(2, 2), (5, 6)}
    covered = scene_targets([scene], cover=True)["shape"][0]
    for o in (big, small):
        px = torch.from_numpy(object_mask(o)).reshape(8, 4, 8, 4).sum((1, 3))
        cells = (px >= COVER_MIN).nonzero().tolist()
        assert len(cells) > 1  # the object shows in more than its centre cell
        assert all(covered[y, x] == SHAPES.index(o.shape) for y, x in cells)
    assert (covered >= 0).sum() > (only_center >= 0).sum()
    assert covered[7, 0] == -100  # empty background keeps no attribute
