"""The bad-and-awkward-input corpus: what is skipped (with which reason) and what is used."""

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import write_tone

from distill.audio.mel import MelConfig
from distill.data.scan import DataFolderError, scan_folder
from distill.data.store import DecodingStore


def build_awkward_corpus(root: Path) -> None:
    good = write_tone(root / "plain.wav", seconds=0.5)
    # Used: mixed down, resampled, padded.
    write_tone(root / "eight_channels.wav", channels=8, seconds=0.4)
    write_tone(root / "phone_8k.wav", sample_rate=8000, seconds=0.5)
    write_tone(root / "hires_192k.flac", sample_rate=192000, seconds=0.3, subtype="PCM_24")
    write_tone(root / "float32.wav", subtype="FLOAT", seconds=0.3)
    write_tone(root / "tiny_click.wav", seconds=0.05)
    write_tone(root / "Ünïcödé 鼓.wav", seconds=0.3)
    write_tone(root / "deep" / "nested" / "folder" / "snare.ogg", seconds=0.3)
    # Skipped with a reason.
    (root / "truncated.wav").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (root / "empty.wav").write_bytes(b"")
    (root / "text_named.wav").write_text("this is a text file\n")
    sf.write(str(root / "nan.wav"), np.array([0.1, np.inf] * 500, np.float32), 44100, subtype="FLOAT")
    sf.write(str(root / "silent.wav"), np.zeros(22050, np.float32), 44100)
    # Ignored: not audio by extension, or hidden.
    (root / "notes.txt").write_text("session notes")
    (root / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    (root / ".DS_Store").write_bytes(b"\0\0")


USED = {
    "plain.wav",
    "eight_channels.wav",
    "phone_8k.wav",
    "hires_192k.flac",
    "float32.wav",
    "tiny_click.wav",
    "Ünïcödé 鼓.wav",
    "deep/nested/folder/snare.ogg",
}
SKIPPED = {
    "truncated.wav": "truncated",
    "empty.wav": "empty",
    "text_named.wav": "not readable",
    "nan.wav": "NaN",
    "silent.wav": "silent",
}


def test_awkward_corpus_is_used_or_skipped_with_one_line_reasons(tmp_path: Path, caplog):
    root = tmp_path / "corpus"
    build_awkward_corpus(root)
    with caplog.at_level(logging.WARNING):
        report = scan_folder(root, store=DecodingStore(mel_config=MelConfig()))
    assert {report.relative(item.path) for item in report.usable} == USED
    reasons = {report.relative(item.path): item.reason for item in report.skipped}
    assert set(reasons) == set(SKIPPED)
    for name, reason in SKIPPED.items():
        assert reason in reasons[name]
        warning = next(r.getMessage() for r in caplog.records if name in r.getMessage())
        assert "\n" not in warning and reason in warning
    assert report.ignored == 3
    assert report.found == len(USED) + len(SKIPPED)
    click = next(item for item in report.usable if item.path.name == "tiny_click.wav")
    assert click.n_frames == 5  # 0.05 s -> 2205 samples, padded up to whole 512-sample frames
    assert report.total_duration_s == pytest.approx(0.5 + 0.4 + 0.5 + 0.3 + 0.3 + 0.05 + 0.3 + 0.3, abs=0.01)


def test_folder_without_usable_audio_is_one_clear_error(tmp_path: Path):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "a.wav").write_text("nope")
    sf.write(str(root / "b.wav"), np.zeros(1000, np.float32), 44100)
    report = scan_folder(root, store=DecodingStore(mel_config=MelConfig()))
    with pytest.raises(DataFolderError, match="No usable audio") as caught:
        report.require_usable()
    assert "\n" not in str(caught.value)
    with pytest.raises(DataFolderError, match="does not exist"):
        scan_folder(tmp_path / "missing", store=DecodingStore(mel_config=MelConfig()))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFolderError, match="No audio files"):
        scan_folder(tmp_path / "empty", store=DecodingStore(mel_config=MelConfig())).require_usable()
