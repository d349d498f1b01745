"""The evaluation's verdict lines: ratios to the references, and when a reference is loose."""

from distill.report.tables import FEW_HELDOUT_FILES, evaluation_lines


def _evaluation(heldout_files: int) -> dict:
    return {
        "distance": {"held-out": 20.0, "via codes": 22.0, "generated": 30.0, "noise": 600.0},
        "distance_ratio": 1.5,
        "resynthesis": {"files": heldout_files, "mel_l1": 0.3, "mstft": 1.4},
        "memorization": {"flagged": False, "generated_share_mean": 0.0, "heldout_share_mean": 0.0},
    }


def test_ratios_to_the_held_out_files_and_to_what_the_codes_allow():
    lines = evaluation_lines(_evaluation(FEW_HELDOUT_FILES))
    assert lines[0] == "generated / held-out distance: 1.50x (1.0 = as close as real new recordings)"
    assert lines[1].startswith("held-out via codes / held-out distance: 1.10x")
    assert "new material" in lines[-1]


def test_a_few_held_out_files_are_called_a_loose_reference():
    assert "only 3 held-out file(s), so a loose reference" in evaluation_lines(_evaluation(3))[0]
