"""JudgeConfig: validation names the bad key; the cache key keeps the retired options as constants and
leaves added options out while they hold their neutral value, so cached and shipped judges keep their keys."""
import pytest

from harness.embedded.judge.config import RETIRED, JudgeConfig


@pytest.mark.parametrize("bad,key", [({"probe_types": ["shapes"]}, "probe_types"), ({"probe_types": []}, "probe_types"),
                                     ({"identity_share": 1.5}, "identity_share"),
                                     ({"one_object_steps": -1}, "one_object_steps"),
                                     ({"grain_prob": 1.5}, "grain_prob"), ({"grain_sigma": 0.1}, "grain_sigma"),
                                     ({"count_near_share": 1.2}, "count_near_share")])
def test_judge_config_names_the_bad_key(bad, key):
    with pytest.raises(ValueError, match=key):
        JudgeConfig(**bad)


def test_retired_options_are_gone_but_stay_in_the_key():
    for name in RETIRED:
        with pytest.raises(TypeError):
            JudgeConfig(**{name: RETIRED[name]})
    key = JudgeConfig().cache_key()
    assert {k: key[k] for k in RETIRED} == RETIRED
    for name in ("difference_image", "size_change_batch", "change_aux_violation"):  # left out at their default
        assert name not in key


def test_added_options_leave_the_key_while_neutral():
    key = JudgeConfig().cache_key()
    assert key["count_near_share"] == 0.6 and key["grain_prob"] == 0.3 and key["change_aux_layer"] == 1
    assert "count_near_share" not in JudgeConfig(count_near_share=0.0).cache_key()
    off = JudgeConfig(grain_prob=0.0).cache_key()
    assert "grain_prob" not in off and "grain_sigma" not in off
    off = JudgeConfig(change_aux_weight=0.0).cache_key()
    assert "change_aux_weight" not in off and "change_aux_layer" not in off
    assert "change_crops" not in JudgeConfig(change_crops=False).cache_key()
    # without change crops there is nothing to grow: object_crops drops out of the key too
    assert JudgeConfig(change_crops=False).cache_key() == JudgeConfig(change_crops=False, object_crops=False).cache_key()
    assert "object_crops" not in JudgeConfig(object_crops=False).cache_key() and key["object_crops"]
