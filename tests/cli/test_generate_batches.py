"""Large and interrupted batches, and two writers at once: a large request says what it will cost
before it starts (and refuses one that cannot fit), Ctrl-C leaves only whole files with their
sidecars and says how many, and a second process writing the same output name, or packaging the
same model name, gets one line while the first finishes undisturbed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_in_process import run_distill
from tiny_library import tiny_model_file

from distill.files import output_lock
from distill.generation import cost

pytestmark = pytest.mark.slow  # runs the tiny model, some of it in child processes

CHILD = """
import signal, sys, time
from pathlib import Path
import torch  # imported before the start signal, so both children start their work together
# As in a terminal: a suite started in the background by a script starts with SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
from distill.cli.main import main
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
sys.argv = ["distill", *sys.argv[2:]]
main()
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_model_file(tmp_path_factory.mktemp("model") / "tiny.distillgan")


def generate(model: Path, out: Path, *more: str) -> list[str]:
    return ["generate", str(model), "--mode", "continuous", "-d", "0.5", "-o", str(out), *more]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_large_request_says_its_cost_first_and_its_pace_after_the_first_sound(model, tmp_path, monkeypatch):
    monkeypatch.setattr(cost, "LARGE_COUNT", 3)  # large from 3 sounds on, instead of 100
    out = tmp_path / "out"
    outcome = run_distill(generate(model, out / "x.wav", "-n", "3"))
    assert outcome.exit_code == 0, outcome.describe()
    text = " ".join(outcome.output.split())
    said = re.search(r"This request: 3 sounds, up to 1\.5 s of audio, about ([\d.]+) kB in (\S+);", text)
    assert said is not None and said[2] == str(out), text
    written = sum(p.stat().st_size for p in out.iterdir())
    assert 0.9 < float(said[1]) * 1000 / written < 1.25  # WAV: the estimate is the size, within the sidecar's
    assert text.index("This request") < text.index("wrote")
    assert re.search(r"The first sound took [\d.]+ s: about [\d.]+ s more for the other 2 at that pace", text)


def test_a_small_request_says_nothing_of_its_cost(model, tmp_path):
    outcome = run_distill(generate(model, tmp_path / "x.wav", "-n", "2"))
    assert outcome.exit_code == 0 and "This request" not in outcome.output, outcome.describe()


def test_a_batch_that_cannot_fit_is_refused_before_anything_is_made(model, tmp_path, monkeypatch):
    monkeypatch.setattr(cost, "_free_bytes", lambda folder: 500_000_000)
    # 100000 x (60 s x 48000 Hz x 3 bytes (pcm24) + a 4096-byte sidecar allowance) = 864.4 GB
    out = tmp_path / "out"
    outcome = run_distill(generate(model, out / "x.wav", "-n", "100000", "-d", "60"))
    assert outcome.exit_code == 2, outcome.describe()
    assert len(outcome.lines) == 1
    assert re.match(
        rf"error: 100000 sounds of up to 1 min need about 864\.4 GB in {re.escape(str(out))}, which has"
        r" 500\.0 MB free; ask for fewer \(--count\)",
        outcome.lines[0],
    ), outcome.lines
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("count", ["99999999999999999999", "1000001"])
def test_an_absurd_count_is_one_line(model, tmp_path, count):
    outcome = run_distill(generate(model, tmp_path / "x.wav", "-n", count))
    assert outcome.exit_code == 2 and len(outcome.lines) == 1, outcome.describe()
    assert outcome.lines[0].startswith("error: --count must be from 1 to 1000000")


def test_ctrl_c_in_a_batch_leaves_whole_files_with_sidecars_and_says_how_many(model, tmp_path):
    out = tmp_path / "out"
    go = tmp_path / "go"
    go.touch()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(go), *generate(model, out / "x.wav", "-n", "500", "-d", "1")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    deadline = time.monotonic() + 300
    while len(list(out.glob("*.json"))) < 2 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    output, _ = child.communicate(timeout=300)
    assert child.returncode == 130, output
    last = [line for line in output.splitlines() if line.strip()][-1]
    told = re.match(
        r"interrupted: (\d+) of 500 sounds were written \(x-000\.wav to x-(\d+)\.wav, in (\S+)\)", last
    )
    assert told is not None, output
    written = int(told[1])
    assert written >= 2 and int(told[2]) == written - 1 and told[3] == str(out)
    audio = sorted(out.glob("*.wav"))
    assert [p.name for p in audio] == [f"x-{index:03d}.wav" for index in range(written)]
    for path in audio:
        assert json.loads(Path(f"{path}.json").read_text())["metadata"]["generation"]["seed"] == audio.index(
            path
        )
    assert leftovers(out) == []  # no temp file, no lock


def test_a_second_writer_of_the_same_output_is_one_line_and_changes_nothing(model, tmp_path):
    out = tmp_path / "out"
    with output_lock(out / "x.wav"):  # another distill, mid-batch
        outcome = run_distill(generate(model, out / "x.wav", "-n", "2"))
    assert outcome.exit_code == 2, outcome.describe()
    assert outcome.lines == [
        f"error: Cannot write {out / 'x.wav'}: another distill (pid {os.getpid()}) is writing it right now."
        " Wait for it to finish, or choose another output name."
    ]
    assert list(out.iterdir()) == []
    assert run_distill(generate(model, out / "x.wav", "-n", "2")).exit_code == 0  # free again
    assert leftovers(out) == []


def _race(tmp_path: Path, commands: list[list[str]]) -> list[tuple[int, str]]:
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(go), *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "300"},
        )
        for command in commands
    ]
    time.sleep(0.5)
    go.touch()
    return [(child.wait(timeout=300), child.communicate()[0]) for child in children]


def test_two_processes_writing_the_same_output_name_one_wins_whole(model, tmp_path):
    out = tmp_path / "out"
    seeds = (0, 1000)
    results = _race(
        tmp_path, [generate(model, out / "x.wav", "-n", "30", "--seed", str(seed)) for seed in seeds]
    )
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    winner = seeds[[code for code, _ in results].index(0)]
    loser_output = results[[code for code, _ in results].index(2)][1]
    lines = [line for line in loser_output.splitlines() if line.strip()]
    assert len(lines) == 1 and "is writing it right now" in lines[0], lines
    for index in range(30):
        sidecar = json.loads((out / f"x-{index:02d}.wav.json").read_text())
        assert sidecar["metadata"]["generation"]["seed"] == winner + index  # all of one writer's
    assert leftovers(out) == []


def test_two_processes_packaging_the_same_model_name_one_wins(trained_runs, tmp_path):
    library = tmp_path / "library"
    package = ["package", "--vqvae", str(trained_runs["vqvae"]), "--name", "same", "--library", str(library)]
    results = _race(tmp_path, [package, [*package[:-4], "--tag", "second", *package[-4:]]])
    assert sorted(code for code, _ in results) == [0, 2], results
    loser_output = next(output for code, output in results if code == 2)
    lines = [line for line in loser_output.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0] == (
        f"error: Cannot add 'same' to the library at {library}: the model 'same' already has that name."
    )
    assert sorted(p.name for p in (library / "models").iterdir()) == ["same.distillgan"]
