"""The tables and lines in which distill shows what it measured, built once for every place that
shows them: the terminal (``distill models info``, ``evaluate``, ``memorization``), the HTML report
(which reads these rich tables back as text) and the scripts in ``experiments/``. A number reads the
same in all of them.

Builds tables and text only; printing them is the caller's.
"""

from __future__ import annotations

from typing import Any

from distill.vocoders.kinds import vocoder_names

NONE = "—"


def vocoder_name(kind: str | None) -> str:
    """What a person reads for a recorded vocoder kind (one distill does not know: as recorded)."""
    return vocoder_names().get(kind, kind) if kind else NONE


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def percent_text(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else NONE


def number_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return NONE if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def vocoder_text(vocoder_type: str | None, steps: int | None, mstft: float | None = None) -> str:
    """E.g. ``Vocos (3000 steps, M-STFT 1.42)``: kind, training and held-out quality."""
    if vocoder_type is None:
        return NONE
    label = vocoder_name(vocoder_type)
    facts = [f"{steps} steps"] if steps is not None else []
    if isinstance(mstft, int | float):
        facts.append(f"M-STFT {mstft:.2f}")
    return f"{label} ({', '.join(facts)})" if facts else label


def quality_text(quality: Any) -> str:
    if not isinstance(quality, dict) or not isinstance(quality.get("mstft"), int | float):
        return "not measured"
    return (
        f"M-STFT {quality['mstft']:.3f}, mel L1 {number_text(quality.get('mel_l1'))}"
        f" on {number_text(quality.get('files'))} held-out files"
    )


# The columns of ``distill models list``; the studio's Library panel shows some of them.
ENTRY_COLUMNS = (
    "name",
    "id",
    "created",
    "tier",
    "files",
    "duration",
    "components",
    "vocoder",
    "min codebook use",
    "tags",
)
NUMBER_COLUMNS = ("files", "duration", "min codebook use")  # right-aligned


def entry_cells(entry) -> dict[str, str]:
    """A library model (``distill.bundle.entry.ModelEntry``) as the text of each ``ENTRY_COLUMNS``."""
    return {
        "name": entry.name,
        "id": entry.id[:8],
        "created": entry.created.strftime("%Y-%m-%d %H:%M") if entry.created else NONE,
        "tier": entry.tier or NONE,
        "files": number_text(entry.file_count),
        "duration": duration_text(entry.duration_s),
        "components": ", ".join(entry.components),
        "vocoder": vocoder_text(entry.vocoder_type, entry.vocoder_steps, entry.vocoder_mstft),
        "min codebook use": percent_text(entry.min_codebook_utilization),
        "tags": ", ".join(entry.tags),
    }


def key_values(title: str, rows: list[tuple[str, Any]]):
    """A two-column table of names and values (numbers as ``number_text``)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value if isinstance(value, str) else number_text(value))
    return table


HEALTH_HEADERS = (
    "level",
    "utilization",
    "perplexity",
    "dead codes",
    "val utilization",
    "val perplexity",
    "val dead codes",
)


def health_rows(train_rows: list, val_rows: list) -> list[list[str]]:
    """One row of text per level (``HEALTH_HEADERS``) from the end-of-training health rows of the
    training epoch and of the held-out files; the CLI and the report page show the same table."""
    train = {row.get("level"): row for row in train_rows if isinstance(row, dict)}
    val = {row.get("level"): row for row in val_rows if isinstance(row, dict)}
    rows = []
    for level in sorted(set(train) | set(val), key=str):
        t, v = train.get(level, {}), val.get(level, {})
        rows.append(
            [
                str(level),
                percent_text(t.get("utilization")),
                number_text(t.get("perplexity")),
                number_text(t.get("dead_codes")),
                percent_text(v.get("utilization")),
                number_text(v.get("perplexity")),
                number_text(v.get("dead_codes")),
            ]
        )
    return rows


def memorization_table(report: dict[str, Any]):
    """The memorization check (``MemorizationReport.to_dict()``) as name / value rows."""
    verdict = (
        "[bold red]flagged: the prior may copy its training set[/]"
        if report.get("flagged")
        else "not flagged"
    )

    def mean_max(stem: str, show, unit: str = "") -> str:
        return f"{show(report.get(f'{stem}_mean'))} mean, {show(report.get(f'{stem}_max'))} max{unit}"

    ratio, threshold = number_text(report.get("share_ratio")), number_text(report.get("ratio_threshold"))
    rows = [
        ("verdict", verdict),
        ("window (columns)", report.get("window")),
        ("generated clips", report.get("n_generated")),
        ("held-out clips", report.get("n_heldout")),
        ("window share, generated", mean_max("generated_share", percent_text)),
        ("window share, held-out", mean_max("heldout_share", percent_text)),
        (
            "share ratio, generated / held-out",
            f"{ratio} (flagged above {threshold}x with a share above {percent_text(report.get('min_share'))})",
        ),
        ("longest copied run, generated", mean_max("generated_run", number_text, " columns")),
        ("longest copied run, held-out", mean_max("heldout_run", number_text, " columns")),
        ("nearest-window similarity, generated", percent_text(report.get("generated_similarity_mean"))),
        ("nearest-window similarity, held-out", percent_text(report.get("heldout_similarity_mean"))),
        (
            "similarity ratio, generated / held-out",
            f"{number_text(report.get('similarity_ratio'))} "
            f"(flagged above {number_text(report.get('similarity_ratio_threshold'))}x)",
        ),
    ]
    return key_values("Memorization (overlap with the training set)", rows)


# --- the generation-quality evaluation (``distill evaluate``) ------------------------------------

SHAPE_ROWS = (
    ("duration_s", "length, s"),
    ("onset_strength", "onset strength"),
    ("crest_db", "crest factor, dB"),
)
# "via codes": the held-out files resynthesised through the codes (the frame-statistics table).
SETS = ("training", "held-out", "via codes", "generated", "noise")
# The stage table's rows, in the order sound travels through the model (distill.evaluation.stages).
STAGE_ROWS = (
    ("vocoder", "training files, vocoder only (mel -> audio)"),
    ("via codes", "training files via codes (audio -> codes -> mel -> audio)"),
    ("held-out", "held-out files, as recorded"),
    ("held-out via codes", "held-out files via codes"),
    ("generated", "generated"),
    ("noise", "white noise"),
)
# The path from a recording to a generated sound: a step's KAD rise is what that stage loses.
STAGE_PATH = (("vocoder", "the vocoder"), ("via codes", "the code grid"), ("generated", "the prior"))


def _number(value: Any, digits: int = 2) -> str:
    return NONE if value is None else f"{value:.{digits}f}"


def _spread(spread: dict[str, float] | None) -> str:
    if not spread:
        return NONE
    return f"{spread['median']:.2f} [{spread['p10']:.2f}-{spread['p90']:.2f}]"


def _kad(score: dict[str, Any] | None) -> tuple[str, str]:
    if not score or score.get("kad") is None:
        return NONE, NONE
    return f"{score['kad']:.1f}", f"{score['kad_low']:.1f} to {score['kad_high']:.1f}"


def stage_table(evaluation: dict[str, Any]):
    """KAD x1000 and 1-NN accuracy of each stage against the training files (None: not recorded)."""
    from rich.table import Table

    stages = evaluation.get("stages")
    if not stages:
        return None
    table = Table(
        title=f"Stage by stage, against the {stages['reference']} training files (aiSFX embeddings;"
        " KAD x1000, lower is closer; 1-NN 0.5 = indistinguishable, 1.0 = fully separable)"
    )
    for column in ("stage", "KAD", "95% interval", "1-NN acc.", "sounds"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    floor = stages.get("floor")
    spread = stages.get("floor_spread")
    table.add_row(
        "same collection, two halves (floor)",
        _number(floor, 1),
        NONE if spread is None else f"± {spread:.1f} (sd)",
        NONE,
        str(stages["reference"]),
    )
    for name, label in STAGE_ROWS:
        score = (stages.get("stages") or {}).get(name)
        kad, interval = _kad(score)
        sounds = NONE if not score else str(score["n"])
        table.add_row(label, kad, interval, _number((score or {}).get("one_nn_accuracy")), sounds)
    return table


def frame_statistics_table(evaluation: dict[str, Any]):
    """Secondary: distance of frame statistics (32-band spectral balance) to the training files,
    then each shape's median [10th-90th percentile]."""
    from rich.table import Table

    distance = evaluation.get("distance") or {}
    frames = evaluation.get("frames") or {}
    shapes = evaluation.get("shapes") or {}
    table = Table(
        title=f"Frame statistics ({evaluation.get('count')} {evaluation.get('mode')} sounds; spectral balance only, lower is closer)"
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


def generation_quality_text(evaluation: Any) -> str:
    """The generation evaluation (``distill evaluate``, recorded as the ``evaluation`` metadata) in
    one cell: the generated sounds' KAD beside the same-collection floor, and their 1-NN accuracy."""
    if not isinstance(evaluation, dict):
        return "not evaluated"
    stages = evaluation.get("stages") or {}
    generated = (stages.get("stages") or {}).get("generated") or {}
    if generated.get("kad") is not None:
        floor = stages.get("floor")
        text = f"KAD {generated['kad']:.1f}" + (f" (floor {floor:.1f})" if floor is not None else "")
        one_nn = generated.get("one_nn_accuracy")
        return text + (f", 1-NN {one_nn:.2f}" if one_nn is not None else "")
    distance = (evaluation.get("distance") or {}).get("generated")  # evaluated before the stage table
    return f"frame statistics distance {_number(distance)}" if distance is not None else NONE


def evaluation_tables(evaluation: dict[str, Any]) -> list:
    """The stage table (when recorded), then the frame statistics."""
    return [table for table in (stage_table(evaluation), frame_statistics_table(evaluation)) if table]


def evaluation_lines(evaluation: dict[str, Any]) -> list[str]:
    """The verdicts under the tables: where the sound is lost, copies, resynthesis, memorization."""
    lines = []
    stages = evaluation.get("stages")
    if stages:
        scores = stages.get("stages") or {}
        floor = stages.get("floor")
        previous, previous_name = floor, "the floor"
        steps = []
        for name, part in STAGE_PATH:
            kad = (scores.get(name) or {}).get("kad")
            if kad is None:
                continue
            if previous is not None:
                steps.append((kad - previous, part, name, previous_name))
            previous, previous_name = kad, name
        if steps:
            rise, part, name, before = max(steps)
            lines.append(f"most sound is lost in {part}: KAD +{rise:.1f} from {before} to {name}")
        copies = stages.get("copies") or []
        generated = scores.get("generated") or {}
        if generated:
            lines.append(
                f"copy check: {len(copies)} of {generated.get('n')} generated sounds sit on a training file"
                + (f" (sounds {', '.join(map(str, copies))})" if copies else "")
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
