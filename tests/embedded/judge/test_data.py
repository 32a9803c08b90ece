"""The judge's training questions: balanced, exact labels, the curricula's scene sizes, count hard
negatives, grain that keeps the answers, and the change map's labels."""
import numpy as np
import torch

from harness.embedded.judge.cases import edit_done, identity_kept, random_case
from harness.embedded.judge.data import probe_example, sample_examples, vqa_examples
from harness.scorers.questions import COUNT_WORDS, EDIT, IDENTITY


def test_examples_are_balanced_and_labels_exact():
    rng = np.random.default_rng(0)
    pairs, singles = sample_examples(rng, 40, 40, 0.1)
    for group in (pairs, singles):
        answers = [e.answer for e in group]
        assert sum(answers) == len(answers) // 2  # an always-Yes judge scores 0.5
    assert {len(e.images) for e in pairs} == {2} and {len(e.images) for e in singles} == {1}
    for _ in range(30):
        c = random_case(rng)
        assert edit_done(c, c.target) and identity_kept(c, c.target)
        assert identity_kept(c, c.source)
        assert not edit_done(c, c.source)


def test_vqa_examples_have_exact_one_word_answers():
    from harness.embedded.judge.model import build_tokenizer
    from harness.world.palette import BACKGROUNDS, COLORS, SHAPES

    tok = build_tokenizer()
    exs = vqa_examples(np.random.default_rng(0), 60)
    assert len(exs) == 60 and {len(e.images) for e in exs} == {1}
    for e in exs:
        scene, q, a = e.images[0], e.question, e.variant
        ids = tok.encode(q + " " + a, add_special_tokens=False)
        assert tok.unk_token_id not in ids
        if "background" in q:
            assert a == scene.background and a in BACKGROUNDS
        elif q.startswith("how many"):
            assert a == ("zero", "one", "two", "three")[len(scene.objects)]
        elif q.startswith("what color"):
            shape = q.split()[-2]
            assert [o.color for o in scene.objects if o.shape == shape] == [a] and a in COLORS
        else:
            color = q.split()[4]
            assert [o.shape for o in scene.objects if o.color == color] == [a] and a in SHAPES


def test_one_object_scenes_for_the_curriculum():
    rng = np.random.default_rng(3)
    _, singles = sample_examples(rng, 0, 80, 0.0, remove_share=0.0, max_objects=1)
    assert max(len(e.images[0].objects) for e in singles) == 1
    _, many = sample_examples(rng, 0, 80, 0.0, remove_share=0.0)
    assert max(len(e.images[0].objects) for e in many) > 1
    assert max(len(e.images[0].objects) for e in vqa_examples(rng, 40, max_objects=1)) == 1
    pairs, _ = sample_examples(rng, 40, 0, 0.0, pair_max_objects=1, identity_share=1.0)
    assert {e.qtype for e in pairs} == {IDENTITY} and max(len(e.images[0].objects) for e in pairs) == 1
    pairs, _ = sample_examples(rng, 40, 0, 0.0, identity_share=0.0)
    assert {e.qtype for e in pairs} == {EDIT} and max(len(e.images[0].objects) for e in pairs) > 1


def test_count_near_share_asks_the_neighbouring_counts():
    """count_near_share=1: every wrong count asked is the true count +- 1 (the 2-vs-3 confusion the judge
    made); 0: the wrong counts are drawn from all others, as the held-out questions are."""
    from harness.world.scene import random_scene

    def wrong_counts(near):
        rng, out = np.random.default_rng(5), []
        for _ in range(300):
            scene = random_scene(rng, 1, 3)
            ex = probe_example(scene, "count", False, rng, count_near=near)
            out.append((len(scene.objects), COUNT_WORDS.index(ex.question.split()[3])))
        return out

    near = wrong_counts(1.0)
    assert all(abs(asked - n) == 1 for n, asked in near)
    assert {(3, 2), (2, 3), (2, 1), (1, 2), (1, 0)} <= set(near)
    anywhere = wrong_counts(0.0)
    assert all(asked != n for n, asked in anywhere) and any(abs(asked - n) > 1 for n, asked in anywhere)


def test_grain_shows_faint_noise_on_the_edited_image_only_with_the_same_answers():
    """grain_prob=1: every example that is not a degraded negative shows its last image with faint noise;
    sources and degraded images are as rendered, and the answers do not change."""
    from harness.embedded.judge.augment import grain_batch
    from harness.embedded.judge.losses import yes_no_loss

    class Recorder:  # stands in for the scorer: keeps what the judge would be shown
        def yes_no_logits(self, slots, questions):
            self.slots = [s.clone() for s in slots]
            return torch.zeros(len(questions), 2)

    pairs, _ = sample_examples(np.random.default_rng(0), 24, 0, degrade_prob=0.5)
    assert any(e.degrade for e in pairs) and not all(e.degrade for e in pairs)
    clean, grainy = Recorder(), Recorder()
    yes_no_loss(clean, pairs, np.random.default_rng(1), 32)
    yes_no_loss(grainy, pairs, np.random.default_rng(1), 32, None, grain_prob=1.0, grain_sigma=0.04)
    assert torch.equal(clean.slots[0], grainy.slots[0])  # the source is never touched
    diff = (grainy.slots[1] - clean.slots[1]).abs().flatten(1)
    for e, d in zip(pairs, diff):
        if e.degrade:
            assert d.max() == 0
        else:  # noise of sigma <= 0.04: well inside the oracle's per-channel tolerance on average
            assert 0 < d.mean() < 0.04
    imgs = clean.slots[1]  # the vision tower's pretraining batches
    assert torch.equal(grain_batch(imgs, 0.0, 0.04, np.random.default_rng(0)), imgs)
    noisy = grain_batch(imgs, 1.0, 0.04, np.random.default_rng(0))
    assert (noisy != imgs).flatten(1).any(1).all() and torch.equal(imgs, clean.slots[1])  # input kept


def test_change_map_labels_mark_exactly_the_patches_that_differ():
    from harness.embedded.judge.losses import change_cells

    a = torch.zeros(2, 3, 32, 32)
    b = a.clone()
    b[0, 1, 9, 20] = 0.5  # one pixel in patch (row 1, col 2) of the 4x4 grid of 8 px patches
    b[1, :, 0:8, 0:8] = 0.03  # below the tolerance: no change
    cells = change_cells(a, b, 8)
    assert cells.shape == (2, 16)
    assert cells[0].nonzero().flatten().tolist() == [1 * 4 + 2] and cells[1].sum() == 0
