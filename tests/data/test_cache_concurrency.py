"""Two trainings preparing the same folder's mel cache at once: both succeed, with one cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from conftest import make_sound_folder

from distill.audio.io import UnusableAudioError
from distill.audio.mel import MelConfig
from distill.data.store import MelCache, content_hash

# Prepares every file of a folder into a cache. Each entry is held back just before its staging
# folder is renamed into place until the other process has staged the same entry too, so every
# entry is really written by both at once (left to chance, one process usually runs ahead and the
# other only reads).
PREPARER = textwrap.dedent(
    """
    import json, os, sys, time
    from dataclasses import asdict
    from pathlib import Path

    args = json.loads(sys.argv[1])
    sync, me, other = Path(args["sync"]), args["me"], args["other"]
    raced = []
    real_replace = os.replace

    def replace(src, dst):
        if Path(src).is_dir():  # a staging folder about to become a cache entry
            name = Path(dst).name
            (sync / f"{name}.{me}").touch()
            deadline = time.monotonic() + 30
            while not (sync / f"{name}.{other}").exists() and time.monotonic() < deadline:
                time.sleep(0.001)
            if (sync / f"{name}.{other}").exists():
                raced.append(name)
        real_replace(src, dst)

    os.replace = replace
    from distill.audio.io import UnusableAudioError
    from distill.audio.mel import MelConfig
    from distill.data.store import MelCache

    (sync / f"ready.{me}").touch()
    while not (sync / "go").exists():  # start together
        time.sleep(0.001)
    cache = MelCache(root=args["cache"], mel_config=MelConfig())
    results = {}
    for path in sorted(Path(args["folder"]).iterdir()):
        try:
            prepared = asdict(cache.prepare(path))
            results[path.name] = {key: value for key, value in prepared.items() if key != "path"}
        except UnusableAudioError as error:
            results[path.name] = {"skipped": error.reason}
    print(json.dumps({"results": results, "raced": raced}))
    """
)


def prepare_all(cache: MelCache, folder: Path) -> dict:
    results = {}
    for path in sorted(folder.iterdir()):
        try:
            prepared = asdict(cache.prepare(path))
            results[path.name] = {key: value for key, value in prepared.items() if key != "path"}
        except UnusableAudioError as error:
            results[path.name] = {"skipped": error.reason}
    return results


@pytest.mark.slow
def test_two_processes_preparing_one_folder_make_one_cache(tmp_path: Path) -> None:
    folder = make_sound_folder(tmp_path / "sounds", 9, seconds=0.3)
    (folder / "broken.wav").write_text("not audio")  # an entry that records a skip races too
    cache_root, sync = tmp_path / "cache", tmp_path / "sync"
    sync.mkdir()
    children = []
    for me, other in ((0, 1), (1, 0)):
        args = {"sync": str(sync), "me": me, "other": other, "cache": str(cache_root), "folder": str(folder)}
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", PREPARER, json.dumps(args)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 120
    while not all((sync / f"ready.{i}").exists() for i in (0, 1)):
        assert time.monotonic() < deadline and all(c.poll() is None for c in children)
        time.sleep(0.01)
    (sync / "go").touch()
    outputs = []
    for child in children:
        stdout, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, stderr
        outputs.append(json.loads(stdout))

    files = sorted(path.name for path in folder.iterdir())
    keys = {content_hash(folder / name) for name in files}
    assert outputs[0]["results"] == outputs[1]["results"] and sorted(outputs[0]["results"]) == files
    assert "skipped" in outputs[0]["results"]["broken.wav"]
    for output in outputs:  # every entry was written by both processes at the same time
        assert sorted(output["raced"]) == sorted(keys)

    cache = MelCache(root=cache_root, mel_config=MelConfig())
    assert sorted(p.relative_to(cache.root).as_posix() for p in cache.root.rglob(".*")) == []
    entries = [entry for shard in cache.root.iterdir() for entry in shard.iterdir()]
    assert sorted(entry.name for entry in entries) == sorted(keys)  # one entry per file
    for entry in entries:
        members = sorted(p.name for p in entry.iterdir())
        assert members in (["audio.npy", "mel.npy", "meta.json"], ["meta.json"])

    fresh = MelCache(root=tmp_path / "fresh", mel_config=MelConfig())
    assert prepare_all(fresh, folder) == outputs[0]["results"]
    for name in files:
        if name == "broken.wav":
            continue
        shared_arrays = cache.arrays(cache.prepare(folder / name))
        fresh_arrays = fresh.arrays(fresh.prepare(folder / name))
        for shared, single in zip(shared_arrays, fresh_arrays, strict=True):
            assert shared.dtype == single.dtype and np.array_equal(shared, single)


def test_a_killed_preparation_leaves_no_entry_and_its_staging_goes(tmp_path: Path) -> None:
    folder = make_sound_folder(tmp_path / "sounds", 1)
    path = next(folder.iterdir())
    cache = MelCache(root=tmp_path / "cache", mel_config=MelConfig())
    key = content_hash(path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    shard = cache.root / key[:2]
    # What a preparation killed halfway leaves: its pid-tagged staging folder, an hour old.
    abandoned = shard / f".{key}.{int(dead.stdout)}-{'0' * 16}.tmp"
    abandoned.mkdir(parents=True)
    (abandoned / "audio.npy").write_bytes(b"\x93NUMPY half")
    recent = shard / f".{'f' * 32}.{int(dead.stdout)}-{'1' * 16}.tmp"  # maybe another machine's
    recent.mkdir()
    old = time.time() - 2 * 3600
    os.utime(abandoned, (old, old))
    prepared = cache.prepare(path)  # a miss: nothing under the real name
    assert not abandoned.exists() and recent.exists()
    assert sorted(p.name for p in shard.iterdir()) == sorted([key, recent.name])
    audio, mel = cache.arrays(prepared)
    assert audio.shape == (prepared.n_frames * 512,) and mel.shape == (128, prepared.n_frames)
