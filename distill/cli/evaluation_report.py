"""The generation-quality evaluation as one table (``distill evaluate``, ``models info``, the demo)."""

from __future__ import annotations

from typing import Any

from distill.cli.model_report import NONE

SHAPE_ROWS = (
    ("duration_s", "length, s"),
    ("onset_strength", "onset strength"),
    ("crest_db", "crest factor, dB"),
)
# "via codes": the held-out files resynthesised through the codes, the closest any generation can get.
SETS = ("training", "held-out", "via codes", "generated", "noise")
# Below this many held-out files the held-out distance is flagged as a loose reference.
FEW_HELDOUT_FILES = 5


def _number(value: Any, digits: int = 2) -> str:
    return NONE if value is None else f"{value:.{digits}f}"


def _spread(spread: dict[str, float] | None) -> str:
    if not spread:
        return NONE
    return f"{spread['median']:.2f} [{spread['p10']:.2f}-{spread['p90']:.2f}]"


def evaluation_table(evaluation: dict[str, Any]):
    """Rows: distance to the training files, then each shape's median [10th-90th percentile]."""
    from rich.table import Table

    distance = evaluation.get("distance") or {}
    frames = evaluation.get("frames") or {}
    shapes = evaluation.get("shapes") or {}
    table = Table(
        title=f"Generation vs collection ({evaluation.get('count')} {evaluation.get('mode')} sounds; lower distance is closer)"
    )
    table.add_column("")
    for name in SETS:
        table.add_column(name, justify="right")
    table.add_row(
        "Fréchet distance to training", "0 (reference)", *(_number(distance.get(n)) for n in SETS[1:])
    )
    table.add_row("sounding frames", *(str(frames.get(n, NONE)) for n in SETS))
    for field, label in SHAPE_ROWS:
        table.add_row(label, *(_spread((shapes.get(n) or {}).get(field)) for n in SETS[:-1]), NONE)
    return table


def evaluation_lines(evaluation: dict[str, Any]) -> list[str]:
    """The verdicts under the table: how close, resynthesis, memorization."""
    lines = []
    ratio = evaluation.get("distance_ratio")
    if ratio is not None:
        line = f"generated / held-out distance: {ratio:.2f}x (1.0 = as close as real new recordings)"
        heldout_files = (evaluation.get("resynthesis") or {}).get("files")
        if heldout_files is not None and heldout_files < FEW_HELDOUT_FILES:
            # A few files' frames cover little of a varied collection: their distance reads large.
            line += f"; only {heldout_files} held-out file(s), so a loose reference"
        lines.append(line)
    distance = evaluation.get("distance") or {}
    floor, heldout = distance.get("via codes"), distance.get("held-out")
    if floor is not None and heldout:
        lines.append(
            f"held-out via codes / held-out distance: {floor / heldout:.2f}x"
            " (what the RVQ-VAE and vocoder let generation reach)"
        )
    resynthesis = evaluation.get("resynthesis")
    if resynthesis:
        lines.append(
            f"resynthesis of {resynthesis['files']} held-out file(s) (audio -> codes -> mel -> audio):"
            f" mel L1 {resynthesis['mel_l1']:.3f}, M-STFT {resynthesis['mstft']:.3f}"
        )
    else:
        lines.append("resynthesis: no held-out files")
    memorization = evaluation.get("memorization") or {}
    if memorization:
        verdict = (
            "FLAGGED: the prior replays its training files" if memorization.get("flagged") else "new material"
        )
        share, baseline = memorization.get("generated_share_mean"), memorization.get("heldout_share_mean")
        lines.append(
            f"memorization: {verdict} (windows shared with training: generated {_number(share)},"
            f" held-out {_number(baseline)})"
        )
    return lines
