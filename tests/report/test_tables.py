"""The evaluation's verdict lines and the stage table, from a recorded evaluation."""

from rich.console import Console

from distill.report.tables import evaluation_lines, evaluation_tables


def _score(kad: float, n: int = 8) -> dict:
    return {
        "kad": kad,
        "kad_low": kad - 1,
        "kad_high": kad + 1,
        "one_nn_accuracy": 0.7,
        "n": n,
        "n_reference": 20,
    }


def _evaluation(stages: dict | None) -> dict:
    return {
        "mode": "one-shot",
        "count": 8,
        "distance": {"held-out": 20.0, "via codes": 22.0, "generated": 30.0, "noise": 600.0},
        "frames": {},
        "shapes": {},
        "resynthesis": {"files": 3, "mel_l1": 0.3, "mstft": 1.4},
        "memorization": {"flagged": False, "generated_share_mean": 0.0, "heldout_share_mean": 0.0},
        "stages": stages,
    }


STAGES = {
    "reference": 20,
    "floor": 7.0,
    "floor_spread": 2.0,
    "stages": {
        "vocoder": _score(8.0),
        "via codes": _score(147.0),
        "held-out": _score(15.0),
        "held-out via codes": _score(150.0),
        "generated": _score(360.0),
        "noise": _score(612.0),
    },
    "copies": [2],
}


def test_the_lines_say_which_stage_loses_the_most_and_which_sounds_are_copies():
    lines = evaluation_lines(_evaluation(STAGES))
    assert lines[0] == "most sound is lost in the prior: KAD +213.0 from via codes to generated"
    assert lines[1] == "copy check: 1 of 8 generated sounds sit on a training file (sounds 2)"
    assert "new material" in lines[-1]
    codes_lose_most = {**STAGES, "stages": {**STAGES["stages"], "generated": _score(200.0)}}
    assert evaluation_lines(_evaluation(codes_lose_most))[0].startswith(
        "most sound is lost in the code grid: KAD +139.0"
    )


def test_the_stage_table_comes_first_and_an_older_evaluation_shows_frame_statistics_only():
    console = Console(width=200, record=True)
    tables = evaluation_tables(_evaluation(STAGES))
    assert len(tables) == 2
    console.print(tables[0])
    text = console.export_text()
    assert "against the 20 training files" in text and "7.0" in text and "± 2.0 (sd)" in text
    for label, kad in (("vocoder only", "8.0"), ("via codes (audio", "147.0"), ("generated", "360.0")):
        row = next(line for line in text.splitlines() if label in line)
        assert kad in row, row
    older = evaluation_tables(_evaluation(None))
    assert len(older) == 1 and "Frame statistics" in str(older[0].title)
    assert not any(
        line.startswith(("most sound", "copy check")) for line in evaluation_lines(_evaluation(None))
    )
