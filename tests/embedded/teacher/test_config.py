"""TeacherConfig: bad values name their key; the cache key keeps older teachers (the shipped one) valid."""
from dataclasses import asdict, fields

import pytest

from harness.embedded.teacher.config import ADDED_OPTIONS, RETIRED, TeacherConfig


@pytest.mark.parametrize("bad,key", [({"unet_channels": (8, 0)}, "unet_channels"),
                                     ({"unet_attention_levels": 4}, "unet_attention_levels"),
                                     ({"unet_heads": 5}, "unet_heads"),
                                     ({"unet_channels": (8,) * 7}, "unet_channels"),
                                     ({"resolution": 4}, "resolution"),
                                     ({"steps": 0}, "steps"),
                                     ({"timestep_sampling": "cosine"}, "timestep_sampling"),
                                     ({"caption_dropout": 1.0}, "caption_dropout"),
                                     ({"ema_decay": 1.0}, "ema_decay"),
                                     ({"scene_aux_weight": -0.1}, "scene_aux_weight"),
                                     ({"unet_channels": (8, 8, 8, 8)}, "scene_aux_weight=0"),
                                     ({"scene_aux_t_weighting": "t"}, "scene_aux_t_weighting"),
                                     ({"text_pretrain_steps": -1}, "text_pretrain_steps"),
                                     ({"max_objects": 2}, "object_count_weights"),
                                     ({"object_count_weights": (1.0, -1.0, 1.0)}, "object_count_weights"),
                                     ({"object_count_weights": (0.0, 0.0, 0.0)}, "object_count_weights")])
def test_teacher_config_names_the_bad_key(bad, key):
    with pytest.raises(ValueError, match=key):
        TeacherConfig(**bad).validate()


def test_the_default_validates():
    TeacherConfig().validate()


def test_cache_key_leaves_out_added_options_at_their_neutral_default():
    """A harness upgrade that adds an option must not orphan the teachers users already trained."""
    neutral = TeacherConfig(**ADDED_OPTIONS)
    key = neutral.cache_key()
    assert not set(ADDED_OPTIONS) & set(key)
    assert key == {**{k: v for k, v in asdict(neutral).items() if k not in ADDED_OPTIONS}, **RETIRED}
    assert "object_count_weights" not in TeacherConfig(object_count_weights=[]).cache_key()  # a list, as JSON gives it
    # an option away from its neutral value (the new defaults) is part of the key
    assert TeacherConfig().cache_key()["scene_aux_weight"] == TeacherConfig().scene_aux_weight > 0


def test_retired_options_stay_in_the_key_at_their_fixed_values_and_are_no_longer_settable():
    """The removed DiT / x-prediction / latent options are in every older key, the shipped teacher's too
    (tests/test_shipped_keys.py): the key keeps them, the config no longer has them."""
    assert not set(RETIRED) & {f.name for f in fields(TeacherConfig)}
    assert {k: TeacherConfig().cache_key()[k] for k in RETIRED} == RETIRED
    with pytest.raises(TypeError):
        TeacherConfig(backbone="sd3")
