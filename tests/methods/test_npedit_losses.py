"""NP-Edit losses: VLM loss gradients, DMD direction, binary == 2-way CE, schedule, no targets."""

import math

import pytest
import torch
import torch.nn.functional as F

from harness.data import StepBatches
from harness.editor import trainable
from harness.models.edit_model import EditModel
from harness.models.samplers import unrolled_sample
from harness.scorers.questions import Question, questions_for
from harness.world.dataset import WorldConfig
from methods.npedit.config import NPEditConfig
from methods.npedit.losses import dmd_loss, vlm_loss
from methods.npedit.method import NPEdit

SAMPLE = {"category": "color_alter", "instruction": "make the red circle blue", "object_name": "red circle"}
REMOVE = {"category": "subject-remove", "instruction": "remove the red circle", "object_name": "red circle"}


def test_vlm_loss_trains_the_generator_only(tiny_scorer, tiny_teacher):
    generator = trainable(EditModel.from_teacher(tiny_teacher))
    source = torch.rand(2, 3, 32, 32)
    ref = generator.encode_image(source)
    x = unrolled_sample(generator, [SAMPLE["instruction"], REMOVE["instruction"]], torch.randn_like(ref), ref=ref,
                        t_mid=0.5)
    loss = vlm_loss(tiny_scorer, source, generator.decode(x), [questions_for(SAMPLE), questions_for(REMOVE)])
    loss.backward()
    grads = [p.grad for p in generator.transformer.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is None for p in tiny_scorer.model.parameters())
    assert all(p.grad is None for p in tiny_teacher.parameters())


class FixedLogits:
    """A scorer whose answer logits are given: [B, V] with Yes = 0, No = 1."""

    yes_id, no_id = 0, 1

    def __init__(self, logits):
        self.logits = logits

    def answer_logits(self, images, questions):
        return self.logits[: len(questions)]

    def yes_no_logits(self, images, questions):
        return self.answer_logits(images, questions)[:, [0, 1]]


def test_binary_loss_is_two_way_cross_entropy_and_full_vocab_differs():
    logits = torch.tensor([[2.0, -1.0, 3.0, 0.5], [0.3, 0.9, -2.0, 1.0]])
    scorer = FixedLogits(logits)
    qs = [[Question("q", 2, True, "edit")], [Question("q", 2, False, "edit")]]
    img = torch.rand(2, 3, 4, 4)
    binary = vlm_loss(scorer, img, img, qs, mode="binary")
    two_way = F.cross_entropy(logits[:, :2], torch.tensor([0, 1]))
    torch.testing.assert_close(binary, two_way)
    full = vlm_loss(scorer, img, img, qs, mode="full_vocab_ce")
    torch.testing.assert_close(full, F.cross_entropy(logits, torch.tensor([0, 1])))
    assert not torch.isclose(full, binary)


def test_questions_sum_per_sample_and_removal_uses_one_image():
    qs = questions_for(REMOVE)
    assert [q.n_images for q in qs] == [1, 2] and [q.expected for q in qs] == [False, True]
    scorer = FixedLogits(torch.zeros(4, 2))  # every question: p = 0.5 -> loss log 2
    img = torch.rand(1, 3, 4, 4)
    assert float(vlm_loss(scorer, img, img, [qs], reduce="sum")) == pytest.approx(2 * math.log(2))
    assert float(vlm_loss(scorer, img, img, [qs], reduce="mean")) == pytest.approx(math.log(2))


class PointMass:
    """Velocity of a flow whose data is the single image ``x0``: its x0 prediction is exactly x0."""

    def __init__(self, x0):
        self.x0 = x0

    def encode_text(self, prompts):
        return prompts

    def velocity(self, x_t, t, text, ref=None):
        tb = torch.as_tensor(t).view(-1, 1, 1, 1)
        return (x_t - self.x0) / tb


def test_dmd_moves_the_sample_from_the_aux_toward_the_teacher():
    real, fake = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    x = torch.full((1, 3, 4, 4), 0.8, requires_grad=True)
    loss, _ = dmd_loss(x, PointMass(real), PointMass(fake), ["c"], torch.tensor([1.0]))
    loss.backward()
    with torch.no_grad():
        moved = x - 0.1 * x.grad
    assert float((moved - real).abs().mean()) < float((x.detach() - real).abs().mean())


def test_dmd_loss_is_zero_when_teacher_and_aux_agree():
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    same = PointMass(torch.full((2, 3, 4, 4), 0.3))
    loss, _ = dmd_loss(x, same, same, ["a", "b"], torch.tensor([3.5, 7.5]))
    assert float(loss) == 0.0


def _method(**kw):
    m = NPEdit(NPEditConfig(**kw), ctx=None)
    return m


def test_phases_switch_at_the_configured_steps():
    m = _method(identity_warmup=3, single_step_iters=2, unroll_times=[0.25, 0.5, 0.75])
    assert [m.unroll_time(s) for s in range(5)] == [None] * 5
    torch.manual_seed(0)
    assert {m.unroll_time(s) for s in range(5, 60)} == {0.25, 0.5, 0.75}
    shifted = _method(identity_warmup=0, single_step_iters=0, unroll_times=[0.5], unroll_shift=3.0)
    assert shifted.unroll_time(0) == pytest.approx(0.75)  # 3 * 0.5 / (1 + 2 * 0.5)
    per_step = _method(identity_warmup=0, single_step_iters=0, unroll_draw="per_step")
    torch.manual_seed(0)
    assert None in {per_step.unroll_time(s) for s in range(40)}
    ramp = _method(logit_scale_ramp_steps=100)
    assert ramp.logit_scale(0) == pytest.approx(0.1) and ramp.logit_scale(200) == 1.0


def test_unpaired_batches_never_hold_a_target():
    batches = StepBatches(WorldConfig(n_unpaired=16, n_paired=8, n_eval=7), batch_size=4, seed=0)
    batch = batches(3)
    assert "target" not in batch and "target_scene" not in batch
    assert batch["source"].shape == (4, 3, 32, 32) and len(batch["target_caption"]) == 4
    paired = StepBatches(WorldConfig(n_unpaired=8, n_paired=16, n_eval=7), batch_size=4, seed=0, paired=True)
    assert paired(0)["target"].shape == (4, 3, 32, 32)
