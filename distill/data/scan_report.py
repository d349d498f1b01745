"""Rich rendering of a folder scan: `distill scan` prints it, the studio's Train panel shows it."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from distill.data.scan import ScanReport


def _duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)} min {secs:04.1f} s" if minutes else f"{secs:.2f} s"


def render_scan_report(console: Console, report: ScanReport, *, tier_name: str | None) -> None:
    usable = Table(title=f"Usable recordings in {report.root}", show_lines=False)
    for column in ("file", "duration", "source rate", "channels"):
        usable.add_column(column, justify="left" if column == "file" else "right")
    for item in report.usable:
        usable.add_row(
            report.relative(item.path),
            _duration(item.duration_s(report.sample_rate)),
            f"{item.source_rate} Hz",
            str(item.source_channels),
        )
    if report.usable:
        console.print(usable)
    if report.skipped:
        skipped = Table(title="Skipped")
        skipped.add_column("file")
        skipped.add_column("reason")
        for item in report.skipped:
            skipped.add_row(report.relative(item.path), item.reason)
        console.print(skipped)
    console.print(
        f"[bold]{report.found}[/] audio file(s) found, [green]{len(report.usable)} usable[/],"
        f" [yellow]{len(report.skipped)} skipped[/], {report.ignored} other file(s) ignored;"
        f" total duration {_duration(report.total_duration_s)}."
    )
    if tier_name is not None:
        console.print(
            f"data=auto would pick the [bold]{tier_name}[/] tier ({len(report.usable)} usable files)."
        )
