import numpy as np

from harness.embedded.judge.model import build_tokenizer
from harness.scorers.questions import EDIT, IDENTITY, TEMPLATES, question_words, questions_for
from harness.world.edits import CATEGORIES, sample_edit
from harness.world.scene import random_scene


def _sample(cat, rng):
    while True:
        e = sample_edit(random_scene(rng), cat, rng)
        if e is not None:
            return {"category": cat, "instruction": e.instruction, "object_name": e.object_name}


def test_every_category_gets_edit_and_identity_questions():
    rng = np.random.default_rng(0)
    assert set(TEMPLATES) == set(CATEGORIES)
    for cat in CATEGORIES:
        s = _sample(cat, rng)
        qs = questions_for(s)
        assert [q.kind for q in qs] == [EDIT, IDENTITY]
        if cat == "subject-remove":
            assert (qs[0].n_images, qs[0].expected) == (1, False)
            assert (qs[1].n_images, qs[1].expected) == (2, True)
            assert s["object_name"] in qs[0].text and s["object_name"] in qs[1].text
        else:
            assert [q.n_images for q in qs] == [2, 2] and all(q.expected for q in qs)
            assert s["instruction"] in qs[0].text


def test_all_question_words_tokenize_without_unk():
    tok = build_tokenizer()
    unk = tok.unk_token_id
    rng = np.random.default_rng(1)
    for w in question_words():
        assert unk not in tok.encode(w, add_special_tokens=False), w
    for _ in range(60):  # instructions and object names from the world, inside the questions
        for cat in CATEGORIES:
            for q in questions_for(_sample(cat, rng)):
                assert unk not in tok.encode(q.text, add_special_tokens=False), q.text
    for w in ("Yes", "No", "USER:", "ASSISTANT:", "<image>"):
        assert len(tok.encode(w, add_special_tokens=False)) == 1
