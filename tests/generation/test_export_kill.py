"""An export killed (SIGKILL) at any step leaves no half file and no sidecar of other audio.

A child process exports a sound; its ``os.replace`` (the rename ``distill.files.atomic_write`` ends
with) is wrapped to stop at the n-th rename, where the test kills it: 1 = the audio is in its temp
file, 2 = the audio is in place and its sidecar in its temp file. Each is tried into an empty folder
and over an earlier export of another sound.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from distill.files import remove_abandoned_temps
from distill.generation.export import Audio, export_audio

CHILD = """
import os, sys, time
from pathlib import Path
import numpy as np
from distill.generation.export import Audio, export_audio

target, stop_at, marker, pitch = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])
real_replace, renames = os.replace, []

def replace(src, dst):
    renames.append(dst)
    if len(renames) == stop_at:
        marker.write_text(str(dst))  # the parent kills this process now
        time.sleep(120)
    return real_replace(src, dst)

os.replace = replace
t = np.arange(2 * 44100) / 44100
export_audio(Audio(samples=(0.5 * np.sin(2 * np.pi * pitch * t)).astype(np.float32), sample_rate=44100,
                   metadata={"pitch": pitch}), target)
"""


def tone(pitch: float) -> Audio:
    t = np.arange(2 * 44100) / 44100
    samples = (0.5 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)
    return Audio(samples=samples, sample_rate=44100, metadata={"pitch": pitch})


def export_killed_at(target: Path, stop_at: int, pitch: float, tmp_path: Path) -> None:
    marker = tmp_path / f"stopped-{stop_at}-{pitch}"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(target), str(stop_at), str(marker), str(pitch)]
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, "the export finished before the step it should be killed at"
            assert time.monotonic() < deadline, "the export never reached the step"
            time.sleep(0.01)
        assert marker.read_text() == str(target if stop_at == 1 else f"{target}.json")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_consistent(folder: Path, target: Path) -> None:
    """No half file under a final name; a sidecar only beside the very audio it describes."""
    sidecar = Path(f"{target}.json")
    if target.exists():
        assert sf.info(str(target)).frames == 2 * 48000  # whole
    if sidecar.exists():
        assert target.exists() and json.loads(sidecar.read_text())["sha256"] == sha256(target)
    leftovers = [p for p in folder.iterdir() if p not in (target, sidecar)]
    assert all(p.name.startswith(f".{target.name}") and p.name.endswith(".tmp") for p in leftovers)
    # The killed writer's temp files are recognised as abandoned and cleared.
    assert sorted(remove_abandoned_temps(folder)) == sorted(leftovers)


@pytest.mark.parametrize("stop_at", [1, 2])
def test_a_kill_into_an_empty_folder_leaves_nothing_or_the_audio_alone(tmp_path, stop_at):
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "take.wav"
    export_killed_at(target, stop_at, 440.0, tmp_path)
    assert_consistent(folder, target)
    assert target.exists() == (stop_at == 2) and not Path(f"{target}.json").exists()
    if stop_at == 2:  # the audio is the whole new file, as an export that finishes writes it
        whole = export_audio(tone(440.0), tmp_path / "whole" / "take.wav")
        assert target.read_bytes() == whole.path.read_bytes()


@pytest.mark.parametrize("stop_at", [1, 2])
def test_a_kill_over_an_earlier_export_never_leaves_its_sidecar_beside_other_audio(tmp_path, stop_at):
    folder = tmp_path / "out"
    earlier = export_audio(tone(220.0), folder / "take.wav")
    old_audio = earlier.path.read_bytes()
    export_killed_at(earlier.path, stop_at, 440.0, tmp_path)
    assert_consistent(folder, earlier.path)
    # The old sidecar went just before the rename: the old audio stays (1) or the new is in (2).
    assert not earlier.sidecar_path.exists()
    assert (earlier.path.read_bytes() == old_audio) == (stop_at == 1)


def test_an_export_over_an_earlier_one_replaces_both_files(tmp_path):
    earlier = export_audio(tone(220.0), tmp_path / "take.flac")
    again = export_audio(tone(440.0), tmp_path / "take.flac")
    sidecar = json.loads(again.sidecar_path.read_text())
    assert sidecar["metadata"] == {"pitch": 440.0} and sidecar["sha256"] == sha256(earlier.path)
    # Without a sidecar the earlier one must not stay behind, describing the sound that was there.
    export_audio(tone(330.0), tmp_path / "take.flac", sidecar=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.flac"]
