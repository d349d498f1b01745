import subprocess
import sys
from pathlib import Path

from conftest import write_tone
from typer.testing import CliRunner

from distill.cli.main import app


def test_scan_reports_usable_skipped_duration_and_tier(tmp_path: Path):
    folder = tmp_path / "sounds"
    for index in range(3):
        write_tone(folder / f"kick_{index}.wav", seconds=0.5)
    write_tone(folder / "nested" / "snare.flac", seconds=0.25, sample_rate=48000, channels=2)
    (folder / "broken.wav").write_text("not audio")
    (folder / "notes.txt").write_text("hello")
    result = CliRunner().invoke(app, ["scan", str(folder), "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "5 audio file(s) found, 4 usable, 1 skipped, 1 other file(s) ignored" in out
    assert "total duration 1.75 s" in out
    assert "broken.wav" in out and "not readable" in out
    assert "data=auto would pick the small tier" in out
    assert any((tmp_path / "cache").rglob("mel.npy"))


def test_scan_without_usable_audio_exits_2_with_one_line(tmp_path: Path):
    folder = tmp_path / "nothing"
    folder.mkdir()
    (folder / "a.wav").write_text("text")
    result = subprocess.run(
        [sys.executable, "-m", "distill.cli.main", "scan", str(folder), "--no-cache"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "No usable audio" in errors[0]
    missing = subprocess.run(
        [sys.executable, "-m", "distill.cli.main", "scan", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and missing.stderr.strip().startswith("error: Data folder")


def test_importing_distill_is_cheap():
    probe = "import sys, distill; heavy = {'torch', 'lightning', 'hydra'} & set(sys.modules); print(sorted(heavy))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
