"""The judge cache: same key -> same judgement, any key part changed -> a new query, sampling
bypasses it, and a run killed mid-write still loads."""
import json
import warnings

import pytest
import torch

from benchmarks.judges.judge_cache import (
    JudgeCache,
    cache_key,
    cached_generate,
    image_hash,
)
from benchmarks.judges.protocols import Decoding, TextJudge, VIEScoreProtocol


class CountingJudge(TextJudge):
    """A new reply on every call (so a cached reply is recognisable), counting calls."""

    def __init__(self, judge_id="counting-1"):
        self.judge_id = judge_id
        self.calls = 0

    def generate(self, images, prompt, temperature, max_new_tokens, seed):
        self.calls += 1
        return f'{{"score": [{self.calls % 11}, 5], "reasoning": "call {self.calls}"}}'


IMG = torch.linspace(0, 1, 3 * 8 * 8).reshape(3, 8, 8)
GREEDY = Decoding(temperature=0.0, max_new_tokens=64, seed=0)


def ask(cache, judge, prompt="p", images=(IMG,), decoding=GREEDY, version="v1"):
    return cached_generate(judge, list(images), prompt, decoding, version, cache=cache)


def test_same_key_same_judgement_and_survives_reload(tmp_path):
    path = tmp_path / "cache.jsonl"
    judge = CountingJudge()
    first, hit1 = ask(JudgeCache(path), judge)
    cache = JudgeCache(path)  # a new process reading the file
    again, hit2 = ask(cache, judge)
    assert (hit1, hit2) == (False, True)
    assert again == first and judge.calls == 1
    assert cache.hits == 1 and cache.misses == 0


@pytest.mark.parametrize("change", ["prompt", "image", "image_dtype", "judge", "temperature0_tokens", "seed",
                                    "version"])
def test_any_key_part_changed_asks_again(tmp_path, change):
    cache, judge = JudgeCache(tmp_path / "c.jsonl"), CountingJudge()
    base, _ = ask(cache, judge)
    kw = {"prompt": {"prompt": "p2"},
          "image": {"images": (IMG.clone().index_put_((torch.tensor(0),) * 3, torch.tensor(0.5)),)},
          "image_dtype": {"images": (IMG.double(),)},
          "temperature0_tokens": {"decoding": Decoding(0.0, 65, 0)},
          "seed": {"decoding": Decoding(0.0, 64, 1)},
          "version": {"version": "v2"},
          "judge": {}}[change]
    other_judge = CountingJudge("counting-2") if change == "judge" else judge
    if change == "judge":
        other_judge.calls = judge.calls  # so its reply would differ only if it is really asked
    reply, hit = ask(cache, other_judge, **kw)
    assert not hit and reply != base
    assert len(cache) == 2


def test_image_hash_sees_exact_bytes():
    u8 = (IMG * 255).round().to(torch.uint8)
    assert image_hash(IMG) == image_hash(IMG.clone())
    assert image_hash(IMG) != image_hash(u8.float() / 255)  # quantised: not the same bytes
    assert image_hash(u8) != image_hash(u8.float())
    assert image_hash(IMG) != image_hash(IMG.reshape(3, 4, 16))
    k = cache_key("v", "p", [image_hash(IMG)], "j", GREEDY)
    assert k == cache_key("v", "p", [image_hash(IMG)], "j", GREEDY.to_dict())
    assert k != cache_key("v", "p", [image_hash(IMG)] * 2, "j", GREEDY)


def test_sampling_bypasses_the_cache(tmp_path):
    path = tmp_path / "c.jsonl"
    cache, judge = JudgeCache(path), CountingJudge()
    hot = Decoding(temperature=0.7, max_new_tokens=64, seed=0)
    a, hit_a = ask(cache, judge, decoding=hot)
    b, hit_b = ask(cache, judge, decoding=hot)
    assert not hit_a and not hit_b and a != b and judge.calls == 2
    assert not path.exists() and len(cache) == 0 and cache.bypassed == 2  # neither read nor written
    ask(cache, judge)  # greedy entry written ...
    _, hit_c = ask(cache, judge, decoding=hot)  # ... and still not read when sampling
    assert not hit_c and judge.calls == 4


def test_killed_run_truncated_last_line_still_loads(tmp_path):
    path = tmp_path / "c.jsonl"
    cache, judge = JudgeCache(path), CountingJudge()
    r1, _ = ask(cache, judge, prompt="a")
    ask(cache, judge, prompt="b")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])  # killed while writing entry b
    with pytest.warns(UserWarning, match="torn last line"):
        reloaded = JudgeCache(path)
    assert len(reloaded) == 1 and reloaded.skipped_lines == [2]
    assert ask(reloaded, judge, prompt="a") == (r1, True)
    r2b, hit = ask(reloaded, judge, prompt="b")  # asked again, appended on a fresh line
    assert not hit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        final = JudgeCache(path)
    assert len(final) == 2 and ask(final, judge, prompt="b") == (r2b, True)
    final.compact()
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(x)["key"] for x in lines)


def test_first_answer_for_a_key_wins(tmp_path):
    path = tmp_path / "c.jsonl"
    cache = JudgeCache(path)
    cache.put("k", "first")
    cache.put("k", "second")  # no-op in this process
    with open(path, "a") as f:  # and a duplicate written by another process is ignored on load
        f.write(json.dumps({"key": "k", "reply": "third"}) + "\n")
    assert JudgeCache(path).get("k")["reply"] == "first"


def test_protocol_uses_the_cache_end_to_end(tmp_path):
    cache, judge = JudgeCache(tmp_path / "c.jsonl"), CountingJudge()
    s = {"id": "a", "category": "color_alter", "instruction": "make it red", "source": IMG}
    proto = VIEScoreProtocol(cache=cache, decoding=GREEDY)
    [r1] = proto.judge(judge, [s], [IMG.flip(-1)])
    [r2] = proto.judge(judge, [s], [IMG.flip(-1)])
    assert judge.calls == 2  # SC and PQ once each
    assert r1.metrics == r2.metrics and [q.from_cache for q in r2.queries] == [[True], [True]]
    [r3] = VIEScoreProtocol(cache=cache, decoding=Decoding(temperature=1.0)).judge(judge, [s], [IMG.flip(-1)])
    assert judge.calls == 4 and [q.from_cache for q in r3.queries] == [[False], [False]]
