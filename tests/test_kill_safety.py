"""Leftovers of killed writers (``distill.files``) and checkpoints on a full disk.

Packaging and the library: tests/bundle/test_package_safety.py; the mel cache:
tests/data/test_cache_concurrency.py.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from conftest import write_tone

from distill.audio.mel import MelConfig
from distill.data.store import MelCache, content_hash
from distill.files import remove_abandoned_temps, temp_path_for
from distill.runs import AtomicCheckpointIO


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    return int(
        subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout
    )


def test_abandoned_temp_files_and_staging_folders_go_live_ones_stay(tmp_path: Path) -> None:
    pid = dead_pid()
    dead_file = tmp_path / f".model.distillgan.{pid}-{'a' * 16}.tmp"
    dead_file.write_bytes(b"PK half")
    dead_folder = tmp_path / f".entry.{pid}-{'b' * 16}.tmp"  # a staging folder, with files in it
    (dead_folder / "sub").mkdir(parents=True)
    (dead_folder / "sub" / "audio.npy").write_bytes(b"half")
    live = temp_path_for(tmp_path / "model.distillgan")  # this process is writing it
    live.write_bytes(b"PK")
    others = [
        tmp_path / "model.distillgan",  # a real file
        tmp_path / f"visible.{pid}-{'c' * 16}.tmp",  # not hidden: not a name distill writes
        tmp_path / f".huge.{'9' * 30}-{'d' * 16}.tmp",  # a pid no process can have
    ]
    for path in others:
        path.write_bytes(b"keep")

    assert sorted(remove_abandoned_temps(tmp_path)) == sorted([dead_file, dead_folder])
    assert sorted(tmp_path.iterdir()) == sorted([live, *others])
    assert remove_abandoned_temps(tmp_path / "missing") == []


def test_min_age_keeps_recent_leftovers(tmp_path: Path) -> None:
    pid = dead_pid()
    recent = tmp_path / f".a.{pid}-{'0' * 16}.tmp"
    old = tmp_path / f".b.{pid}-{'1' * 16}.tmp"
    for path in (recent, old):
        path.mkdir()
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    assert remove_abandoned_temps(tmp_path, min_age_s=600) == [old]
    assert list(tmp_path.iterdir()) == [recent]


# Each writer in turn, in a child that may write no file past 64 KiB (RLIMIT_FSIZE: a write past it
# fails with EFBIG; Python ignores SIGXFSZ): what each raised, as JSON.
WRITERS = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np, torch
    from distill.audio.mel import MelConfig
    from distill.data.store import MelCache
    from distill.files import DiskFullError, write_npy_atomic, write_wav_atomic
    from distill.runs import AtomicCheckpointIO

    folder = Path(sys.argv[1])
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 100_000).astype(np.float32)
    writers = {
        # 1 MiB of weights over the earlier checkpoint
        "last.ckpt": lambda path: AtomicCheckpointIO().save_checkpoint(
            {"state_dict": {"w": torch.randn(256, 1024)}, "global_step": 2}, path
        ),
        "codes.npy": lambda path: write_npy_atomic(path, noise),
        "clip.wav": lambda path: write_wav_atomic(path, noise, 44100),
        "cache": lambda path: MelCache(root=path, mel_config=MelConfig()).prepare(folder / "long.wav"),
    }
    raised = {}
    for name, write in writers.items():
        try:
            write(folder / name)
            raised[name] = None
        except DiskFullError as error:
            raised[name] = str(error)
    print(json.dumps(raised))
    """
)


@pytest.mark.slow
def test_a_full_disk_is_one_clear_error_for_every_writer_and_leaves_nothing(tmp_path: Path) -> None:
    checkpoint = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(4)}, "global_step": 1}, checkpoint)
    earlier = checkpoint.read_bytes()
    write_tone(tmp_path / "long.wav", seconds=0.5)  # its cache entry takes ~170 KB
    before = sorted(tmp_path.iterdir())
    limit = 64 * 1024

    def no_room() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [sys.executable, "-c", WRITERS, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=no_room,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no writer printed its failed writes
    raised = json.loads(result.stdout)
    for name in ("last.ckpt", "codes.npy", "clip.wav"):
        assert raised[name].startswith(f"Cannot write {tmp_path / name}: file too large"), raised
    entry = MelCache(root=tmp_path / "cache", mel_config=MelConfig())._entry(
        content_hash(tmp_path / "long.wav")
    )
    assert raised["cache"].startswith(f"Cannot write {entry}: file too large"), raised
    assert checkpoint.read_bytes() == earlier
    assert torch.load(checkpoint, weights_only=True)["global_step"] == 1
    assert sorted(tmp_path.iterdir()) == sorted([*before, tmp_path / "cache"])
    cache_files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert cache_files == []  # no entry, no staging folder


def test_demo_sounds_and_mel_previews_are_written_whole(tmp_path: Path) -> None:
    import soundfile as sf

    from distill.callbacks.preview import save_mel_comparison
    from distill.demo.sounds import write_demo_sounds

    paths = write_demo_sounds(tmp_path / "demo")
    assert len(paths) == 20
    for path in paths:
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (44100, 1, "PCM_16", "WAV")
    image = tmp_path / "previews" / "epoch_000" / "clip_0.png"
    save_mel_comparison(image, torch.randn(128, 40), torch.randn(128, 40), title="epoch 0, clip 0")
    assert image.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert [p.name for p in tmp_path.rglob(".*")] == []  # no temp file left beside any of them
