"""A newcomer sees training progress: the per-method progress bar (quiet under --quiet, resumes at the
resumed step) and `tracker=tensorboard`, which logs the scalars of metrics.jsonl as event files."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from harness.cli import main
from harness.engine import Engine, EngineConfig
from harness.trainer import Trainer, headline
from tests.test_trainer import Toy, ToyConfig


def _toy_fit(run_dir, crash_at=None, progress=True, **engine_kw):
    method = Toy(ToyConfig(), ctx=None)
    method.crash_at = crash_at
    engine = Engine(EngineConfig(micro_batch_size=4, cpu=True, **engine_kw), trained=["gen"])
    method.setup(engine)
    Trainer(method, engine, run_dir, "toy", progress=progress).fit()


def _rows(run_dir, event="train"):
    return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if r["event"] == event]


@pytest.mark.parametrize("metrics, shown", [
    ({"loss_fm": 0.5}, ["loss_fm"]),  # supervised
    ({"two_step": 0.0, "loss_vlm": 0.2, "loss_dmd": 0.1, "loss_total": 0.3, "loss_aux": 0.4}, ["loss_total"]),  # npedit
    ({"loss_policy": 0.1, "reward": 0.7, "reward_std": 0.2}, ["loss_policy", "reward"]),  # flow_grpo
    ({"zero_std_ratio": 1.0}, []),
])
def test_bar_shows_the_main_loss_and_reward(metrics, shown):
    assert list(headline(metrics)) == shown


def test_bar_goes_to_stderr_and_resumes_at_the_resumed_step(tmp_path, capsys):
    with pytest.raises(KeyboardInterrupt):
        _toy_fit(tmp_path, crash_at=4)  # checkpoint at step 3
    first = capsys.readouterr()
    assert "train toy" in first.err and "0/6" in first.err and "train toy" not in first.out
    _toy_fit(tmp_path)
    err = capsys.readouterr().err
    assert "3/6" in err and "6/6" in err and "0/6" not in err and "loss=" in err
    assert all(set(r) >= {"event", "step", "loss"} for r in _rows(tmp_path))  # metrics.jsonl as before


def test_no_bar_when_progress_is_off(tmp_path, capsys):
    _toy_fit(tmp_path, progress=False)
    assert "train toy" not in capsys.readouterr().err
    assert [r["step"] for r in _rows(tmp_path)] == [1, 2, 3, 4, 5, 6]


def test_tensorboard_tracker_logs_the_metrics_jsonl_scalars(tmp_path):
    _toy_fit(tmp_path, progress=False, tracker="tensorboard", tracker_dir=str(tmp_path / "trackers"))
    events = EventAccumulator(str(tmp_path / "trackers" / "toy"))
    events.Reload()
    assert {"loss", "nfe", "wall_seconds"} <= set(events.Tags()["scalars"])
    logged = {e.step: e.value for e in events.Scalars("loss")}
    assert logged == pytest.approx({r["step"]: r["loss"] for r in _rows(tmp_path)}, rel=1e-6)


def test_no_tracker_writes_no_tracker_folder(tmp_path):
    _toy_fit(tmp_path, progress=False)
    assert not (tmp_path / "trackers").exists()


RUN = ["methods=supervised", "supervised.steps=3", "world.n_eval=7", "calibration=[]"]


def test_run_shows_a_training_bar_and_logs_to_tensorboard(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", *RUN, "tracker=tensorboard", f"output_dir={out}"]) == 0
    err = capsys.readouterr().err
    assert "train supervised" in err and "3/3" in err and "loss_fm=" in err
    assert list((out / "trackers" / "supervised").glob("events.out.tfevents.*"))
    assert "step/s" not in (out / "metrics.jsonl").read_text()  # the bar never lands in metrics


def test_run_quiet_shows_no_bars(tmp_path, capsys):
    assert main(["run", "--quiet", *RUN, f"output_dir={tmp_path / 'o'}"]) == 0
    err = capsys.readouterr().err
    assert "train supervised" not in err and "supervised on shapes" not in err and "Loading weights" not in err
    assert _rows(tmp_path / "o")  # progress still goes to metrics.jsonl


@pytest.mark.parametrize("value, must_say", [("tensorbord", "tracker='tensorbord' is not allowed; choose one of: "
                                                            "none, tensorboard, wandb"),
                                             ("wandb", "pip install wandb")])
def test_bad_tracker_exits_2_with_one_line(value, must_say, tmp_path, capsys):
    if value == "wandb":
        try:
            import wandb  # noqa: F401
            pytest.skip("wandb is installed here")
        except ImportError:
            pass
    assert main(["run", "methods=copy", f"tracker={value}", f"output_dir={tmp_path / 'o'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert must_say in err and len(err.splitlines()) == 1
