"""NaN / inf guard: a non-finite loss or gradient stops the method with one line naming the step and the
term, keeps the last good checkpoint and summarises what was scored; ``skip_nonfinite=N`` skips and counts."""

import json
import math

import pytest
import torch

from harness.engine import Engine, EngineConfig
from tests.catalogue.conftest import one_line_error


def _rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _args(out, *extra):
    return ["run", "methods=faulty", "world.n_eval=7", f"output_dir={out}", *extra]


def test_nan_loss_stops_naming_step_and_term_keeps_checkpoint_and_scores(cli, faulty, tmp_path):
    out = tmp_path / "o"
    code, err = cli(*_args(out, "faulty.bad_steps=[5]"))
    one_line_error(code, err, "faulty", "non-finite loss", "at step 5", "faulty.skip_nonfinite")
    ckpts = sorted(p.name for p in (out / "checkpoints" / "faulty").iterdir())
    assert ckpts == ["step-00000002", "step-00000004"]  # the last good ones; nothing after the bad step
    assert "step-00000004" in err[0]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"copy", "target"}  # the rows scored before the stop, summarised
    assert next(r for r in _rows(out) if r.get("event") == "stopped")["step"] == 5


def test_inf_loss_is_skipped_and_counted_when_allowed(cli, faulty, tmp_path):
    out = tmp_path / "o"
    code, err = cli(*_args(out, "faulty.bad=inf", "faulty.bad_steps=[3]", "faulty.skip_nonfinite=2"))
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["faulty"]["compute"]["skipped_nonfinite"] == 1
    assert math.isfinite(summary["faulty"]["shapes"]["preservation"])  # the skipped step left the weights finite
    rows = _rows(out)
    assert [r["step"] for r in rows if r.get("event") == "skip_nonfinite"] == [3]
    train = {r["step"]: r for r in rows if r.get("event") == "train"}
    assert set(train) == set(range(1, 7)) and "loss" not in train[3]  # no NaN/inf ever logged
    assert all(math.isfinite(r["loss"]) for s, r in train.items() if s != 3)


def test_more_bad_steps_than_allowed_stops_at_the_first_over_budget(cli, faulty, tmp_path):
    code, err = cli(*_args(tmp_path / "o", "faulty.bad_steps=[2,3]", "faulty.skip_nonfinite=1"))
    one_line_error(code, err, "at step 3", "skipped so far: 1")


def test_non_finite_gradient_with_finite_loss_is_named(cli, faulty, tmp_path):
    code, err = cli(*_args(tmp_path / "o", "faulty.bad=grad", "faulty.bad_steps=[2]", "calibration=[]"))
    one_line_error(code, err, "generator gradient", "at step 2", "no checkpoint")
    assert not (tmp_path / "o" / "summary.json").exists()  # nothing was scored: no summary to write


def _engine_and_param():
    engine = Engine(EngineConfig(preset="single", cpu=True), trained=["generator"])
    w = torch.nn.Parameter(torch.ones(4))
    module = torch.nn.ParameterList([w])
    engine.prepare("generator", module, torch.optim.SGD(module.parameters(), lr=0.1))
    return engine, w


@pytest.mark.parametrize("bad", ["nan_loss", "inf_grad"])
def test_engine_refuses_the_update_and_the_next_finite_one_applies(bad):
    engine, w = _engine_and_param()
    loss = (w * float("nan")).sum() if bad == "nan_loss" else torch.sqrt(w.sum() - w.sum().detach())
    engine.backward("generator", loss)
    assert engine.step("generator") is False
    assert torch.equal(w.detach(), torch.ones(4))  # untouched by the bad step
    assert engine.take_nonfinite() == {"generator": "loss" if bad == "nan_loss" else "gradient"}
    engine.backward("generator", (w ** 2).sum())
    assert engine.step("generator") is True and not torch.equal(w.detach(), torch.ones(4))
    assert engine.take_nonfinite() == {}
