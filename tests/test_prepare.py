import json

from harness.cli import main


def test_prepare_writes_a_data_card_under_harness_home(harness_home, capsys):
    args = ["prepare", "--world-only", "world.n_unpaired=14", "world.n_paired=14", "world.n_eval=14"]
    assert main(args) == 0
    cards = list((harness_home / "world").glob("*/card.json"))
    assert len(cards) == 1
    card = json.loads(cards[0].read_text())
    assert {s: card["splits"][s]["n"] for s in ("unpaired", "paired", "eval")} == {"unpaired": 14, "paired": 14, "eval": 14}
    assert (cards[0].parent / "preview_eval.png").stat().st_size > 0
    assert "world ready" in capsys.readouterr().out
