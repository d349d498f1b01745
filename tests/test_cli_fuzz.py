"""A property-based fuzz of the whole CLI: for every command, Hypothesis draws values for every
argument and option (wrong types, negatives, huge numbers, NaN and inf, unicode and very long paths,
empty strings, folders for files and files for folders, damaged files) and leaves some out or adds
extra ones. Whatever it draws, the command exits 0 or 2, prints no traceback, and leaves no partial
file (no temp file, no lock, no audio without its sidecar) where it writes.

The commands run in this process (``cli_in_process.py``) on a tiny model, library, code grid and
sound folder made once. The suite runs a fixed set of examples (``derandomize``); a longer, random
run: ``experiments/fuzz_cli.py``. The hub is offline for every command (``vocoder download`` of a
hub id is the "unreachable" line; of a folder, it loads and checks what is there).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import typer
from cli_in_process import run_distill
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.core import TyperGroup

from distill.cli.main import app
from distill.vocoders.bigvgan import HUB_ID

pytestmark = pytest.mark.slow  # ~300 commands, some of which load and run the tiny model

EXAMPLES_PER_COMMAND = int(os.environ.get("DISTILL_FUZZ_EXAMPLES", "16"))
# Commands that generate and embed sounds take seconds an example: fewer of them in the suite, with
# their sizes always given (left out, the defaults ask for 16 sounds).
HEAVY = {("evaluate",), ("memorization",), ("report",), ("package",)}
HEAVY_EXAMPLES = max(1, EXAMPLES_PER_COMMAND * 3 // 8)
ALWAYS_GIVEN = {"count", "samples", "sounds", "seconds", "evaluate"}
# Options that exclude most others (--from takes no settings, --binaural no --stereo): given rarely,
# or nearly every example would stop at that one check.
RARELY_GIVEN = {"from_sidecar", "binaural", "hrtf"}
RANDOM = os.environ.get("DISTILL_FUZZ_RANDOM") == "1"  # experiments/fuzz_cli.py: new examples each run
SECONDS_PER_EXAMPLE = 120  # a command still running after this is a hang: a failure


def _commands() -> dict[tuple[str, ...], object]:
    found = {}

    def walk(command, path):
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found[path] = command

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()

# --- values ---------------------------------------------------------------------------------------
# Each option mostly gets a value that works (so the command goes deep: loads, generates, writes)
# and sometimes a bad one of its kind, so each example probes a few bad values at a time.

BAD_NUMBERS = ["-1", "0", "nan", "inf", "-inf", "1e309", "99999999999999999999", "-99999999999999999999",
               "abc", "", "1,5", "0x10", " 1", "½", "1e-300", "3601"]  # fmt: skip
BAD_TEXTS = ["", " ", "-", "--", "nope", "TINY", "../tiny", "ünï😀", "x" * 5000, "a,b", "0:nan", "%s%n", "{}",
             "\t", "1:0,0:1", "0,0,0"]  # fmt: skip
INT_OPTIONS = {"top_k", "seed", "count", "sample_rate", "samples", "sounds", "evaluate", "candidates",
               "variation"}  # fmt: skip
FLOAT_OPTIONS = {"duration", "temperature", "top_p", "overlap", "stereo", "pan_position", "weight", "seconds",
                 "guidance"}  # fmt: skip
PATH_OPTIONS = {"folder", "cache_dir", "library", "output", "prompt", "hrtf", "from_sidecar", "data",
                "json_out", "run", "audio", "codes_file", "session", "file", "vqvae", "prior"}  # fmt: skip
TEXT_OPTIONS = {"model", "mode", "binaural", "audio_format", "subtype", "peak", "name", "tag", "curve", "how",
                "first", "second", "tags", "vocoder", "loudness", "brightness", "length", "noisiness", "pitch",
                "notes", "tuning"}  # fmt: skip
GOOD_TEXTS = {
    "mode": ["one-shot", "continuous"],
    "binaural": ["90,0", "-30,10"],
    "audio_format": ["wav", "flac", "ogg"],
    "subtype": ["pcm16", "pcm24", "float"],
    "peak": ["limit", "normalize", "none"],
    "name": ["mine", "tiny"],
    "tag": ["drums", "ünï"],
    "tags": ["drums", "ünï"],
    "curve": ["0:0,1:1", "0:1,0.5:0,1:1"],
    "how": ["mix", "resynth"],
    "vocoder": ["auto", "bundled"],
    "loudness": ["0.5", "-20dB"],
    "brightness": ["0.8", "2000Hz"],
    "length": ["0.2", "0.5s"],
    "noisiness": ["0.3"],
    "pitch": ["A3", "0.5"],
    "notes": ["A3..B3"],
    "tuning": ["decoder", "rate"],
}
GOOD_NUMBERS = {
    "count": ["1", "2"], "top_k": ["0", "5"], "seed": ["0", "7", "-3"], "sample_rate": ["22050", "48000"],
    "samples": ["2"], "sounds": ["1"], "evaluate": ["2"], "duration": ["0.3", "1"], "temperature": ["0.7", "1"],
    "top_p": ["0.9", "1"], "overlap": ["0.1"], "stereo": ["0", "0.5"], "pan_position": ["0", "-0.5"],
    "weight": ["0.3", "1"], "seconds": ["0.5"], "guidance": ["1", "2.5"], "candidates": ["1", "2"],
    "variation": ["0", "2"],
}  # fmt: skip


def _paths(places: dict[str, Path]) -> dict[str, list[str]]:
    """Good paths per option, and bad ones any path option may get."""
    scratch = places["scratch"]
    audio = [str(scratch / name) for name in ("out.wav", "sub/deeper/o.flac", "ünï 😀.ogg", "o")]
    good = {
        "folder": [str(places["sounds"])],
        "cache_dir": [str(scratch / "cache")],
        "library": [str(places["library"])],
        "output": audio,  # generate, blend, decode; the others' in OTHER_OUTPUTS
        "prompt": [str(places["audio"])],
        "from_sidecar": [str(places["sidecar"])],
        "data": [str(places["collection"])],
        "json_out": [str(scratch / "o.json")],
        "run": [str(places["run"])],
        "audio": [str(places["audio"])],
        "codes_file": [str(places["codes"])],
        "session": [str(places["session"])],
        "file": [str(places["model"])],
    }
    bad = [str(places[name]) for name in ("empty", "text", "damaged_model", "damaged_codes", "sounds", "run")]
    bad += ["", "-", "/nonexistent/x.wav", "/proc/x.wav", str(scratch / ("n" * 300 + ".wav")),
            str(places["audio"] / "x.wav"), "~nobody/x", str(scratch)]  # fmt: skip
    return {"good": good, "bad": bad}


OTHER_OUTPUTS = {
    "encode": ".codes",
    "edit": ".codes",
    "report": ".html",
    "package": ".distillgan",
    "codes": ".png",
}

# Training reads only a folder (or run) that cannot train: a valid one would train for minutes.
TRAIN_INPUTS = ("empty", "text", "audio", "model", "damaged_model", "run")
OVERRIDES = ["trainer.max_epochs=-1", "data.batch_size=abc", "model=nonexistent", "trainer=nope",
             "data=nope", "foo=bar", "+x=", "=", "data.path=", "trainer.max_time=nan", "objective=nope",
             "resume=/nonexistent", "model.optimizer.lr=inf", "data.crop_frames=-5", "hydra.run.dir=",
             "--cfg", "-m", "trainer.max_steps=99999999999999999999", "ünï=😀"]  # fmt: skip


def _values(path: tuple[str, ...], name: str, places: dict[str, Path]) -> tuple[list[str], list[str]]:
    """(good values, bad values) for option ``name`` of command ``path``."""
    paths = _paths(places)
    if path[0].startswith("train") and name in ("folder", "vqvae"):
        return [str(places[key]) for key in TRAIN_INPUTS], ["", "/nonexistent"]
    if name == "vocoder" and path == ("package",) or name in ("vqvae", "prior", "hrtf"):
        return [], paths["bad"]  # no trained runs or SOFA files here: only what must be refused
    if name == "source":  # vocoder download: a hub id (offline here) or a folder holding a BigVGAN
        good = [HUB_ID, *map(str, places["bigvgan"])]
        return good, BAD_TEXTS + paths["bad"]
    if name in ("model", "first", "second"):  # a name in the library or a model file
        return ["tiny", str(places["model"])], BAD_TEXTS + paths["bad"]
    if name in INT_OPTIONS or name in FLOAT_OPTIONS:
        return GOOD_NUMBERS[name], BAD_NUMBERS
    if name == "output" and path[0] in OTHER_OUTPUTS:
        return [str(places["scratch"] / f"o{OTHER_OUTPUTS[path[0]]}")], paths["bad"]
    if name in PATH_OPTIONS:
        return paths["good"][name], paths["bad"]
    if name in TEXT_OPTIONS:
        return GOOD_TEXTS[name], BAD_TEXTS
    raise AssertionError(f"{' '.join(path)}: the fuzz has no values for its option {name!r}; add it above")


def _given(draw, param) -> bool:
    # Hypothesis leans to small integers (its "simple" examples), so 0 is the usual case here.
    if param.name in ALWAYS_GIVEN:
        return True
    if param.required or param.param_type_name == "argument":  # generate's MODEL is optional (--from)
        return draw(st.integers(0, 19)) != 19  # left out one time in 20
    if param.name in RARELY_GIVEN:
        return draw(st.integers(0, 7)) == 7  # given one time in 8
    return draw(st.integers(0, 2)) != 2  # given two times in 3


@st.composite
def command_lines(draw, path: tuple[str, ...], places: dict[str, Path]) -> list[str]:
    """One command line: some options left out, the rest good values but for up to two bad ones."""
    command = COMMANDS[path]
    argv = list(path)
    given = []
    for param in command.params:
        if param.name == "help":
            continue
        if getattr(param, "is_flag", False):
            if draw(st.integers(0, 3)) == 3:
                argv.append(draw(st.sampled_from(param.opts + list(getattr(param, "secondary_opts", [])))))
        elif _given(draw, param):
            given.append(param)  # the others are left out: an optional one often, a required one rarely
    bad = set(draw(st.lists(st.integers(0, max(len(given) - 1, 0)), max_size=2))) if given else set()
    for index, param in enumerate(given):
        good_values, bad_values = _values(path, param.name, places)
        for _ in range(draw(st.integers(1, 2)) if param.nargs == -1 else 1):
            value = draw(st.sampled_from(bad_values if index in bad or not good_values else good_values))
            argv += (
                [value] if param.param_type_name == "argument" else [draw(st.sampled_from(param.opts)), value]
            )
    if (command.context_settings or {}).get("allow_extra_args"):
        argv += draw(st.lists(st.sampled_from(OVERRIDES), max_size=2))
    if draw(st.integers(0, 9)) == 9:
        argv.append(draw(st.sampled_from(["extra", "--no-such-option", "--count", "-"])))
    return argv


# --- the world the commands see ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def places(tmp_path_factory, trained_runs) -> dict[str, Path]:
    from conftest import make_tiny_bigvgan, package_trained

    from distill.codes.editor import CodeEditor
    from distill.model import DistillModel

    root = tmp_path_factory.mktemp("fuzz")
    sounds = root / "sounds"
    sounds.mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        sf.write(sounds / f"s{index}.wav", 0.2 * rng.standard_normal(11025), 22050)
    # A model trained on a real (tiny) collection, so evaluate and report go all the way.
    pristine = root / "pristine-library"
    pristine_model = shutil.copyfile(
        package_trained(trained_runs, name="tiny", library=pristine).path, root / "pristine.distillgan"
    )
    model = shutil.copyfile(pristine_model, root / "tiny.distillgan")
    loaded = DistillModel.load(model)
    grid = loaded.encode(sounds / "s0.wav")
    editor = CodeEditor(loaded, grid)
    editor.apply("cut", start=0, stop=1)
    generated = root / "made"
    generated.mkdir()
    loaded.generate(duration_s=0.3, mode="continuous").audio.save(generated / "g.wav")
    found = dict(
        root=root,
        sounds=sounds,
        audio=sounds / "s0.wav",
        model=model,
        codes=grid.save(root / "grid.codes"),
        session=editor.save(root / "session.json"),
        sidecar=generated / "g.wav.json",
        empty=root / "empty",
        text=root / "notes.wav",
        damaged_model=root / "damaged.distillgan",
        damaged_codes=root / "damaged.codes",
        run=root / "run",
        pristine_library=pristine,
        pristine_model=pristine_model,
        collection=trained_runs["sounds"],
        library=root / "library",
        scratch=root / "scratch",
    )
    found["empty"].mkdir()
    found["run"].mkdir()
    found["text"].write_text("not audio at all\n" * 50)
    found["damaged_model"].write_bytes(model.read_bytes()[:3000])
    found["damaged_codes"].write_bytes(b"\x93NUMPY" + b"\x00" * 64)
    found["bigvgan"] = [make_tiny_bigvgan(root / "bigvgan")] if importlib.util.find_spec("bigvgan") else []
    return found


@contextmanager
def _world(places: dict[str, Path]):
    """A fresh library and scratch folder for one command, with distill's places inside the test's."""
    shutil.rmtree(places["library"], ignore_errors=True)
    shutil.copytree(places["pristine_library"], places["library"])
    shutil.copyfile(places["pristine_model"], places["model"])  # evaluate --save records in it
    shutil.rmtree(places["scratch"], ignore_errors=True)
    places["scratch"].mkdir()
    saved = dict(os.environ)
    os.environ.update(
        DISTILL_HOME=str(places["library"]),
        DISTILL_CACHE_DIR=str(places["root"] / "cache"),
        DISTILL_LOG_DIR=str(places["scratch"] / "logs"),
        WANDB_MODE="disabled",
        COLUMNS="200",
    )
    try:
        with _hub_offline(places["root"] / "hub"):
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _hub_offline(cache: Path):
    """No command reaches the network: the hub's offline switch (read when a download is asked for,
    not only at import, so it works in this process) and a hub cache of the test's own."""
    try:
        from huggingface_hub import constants
    except ImportError:
        yield
        return
    saved = constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE
    constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE = True, str(cache)
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE = saved


@contextmanager
def _time_limit(seconds: int):
    def stop(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


_TEMP = re.compile(r"^\..*\.(tmp|lock)$")
_AUDIO = (".wav", ".flac", ".ogg")


def _partial_files(scratch: Path, path: tuple[str, ...]) -> list[str]:
    """Temp files, locks, and (for commands that write sidecars) audio without its sidecar."""
    found = []
    for file in scratch.rglob("*"):
        if _TEMP.match(file.name):
            found.append(str(file))
        elif path[0] in ("generate", "blend") and file.suffix in _AUDIO and not Path(f"{file}.json").exists():
            found.append(f"{file} (no sidecar)")
    return found


# What the fuzz found (each a traceback or a hang before its fix), kept as fixed examples.
FOUND = [
    ["report", "tiny", "--sounds", "1", "--seconds", "nan"],  # experiments/fuzz_cli.py, 60 per command
    ["evaluate", "tiny", "--data", "{collection}", "--count", "2", "--seed", "-3", "--no-save"],
    ["evaluate", "tiny", "--data", "{collection}", "--count", "99999999999999999999"],  # ran for ever
    ["memorization", "tiny", "--samples", "-1"],
    ["generate", "tiny", "-d", "0.3", "--seed", "99999999999999999999", "-o", "{scratch}/x.wav"],
    ["generate", "tiny", "-d", "0.3", "--count", "99999999999999999999", "-o", "{scratch}/x.wav"],
    ["models", "delete", "tiny"],  # asks, and stdin is closed
]


@pytest.mark.parametrize("argv", FOUND, ids=lambda argv: " ".join(argv[:3]))
def test_what_the_fuzz_found_stays_fixed(argv, places):
    with _world(places), _time_limit(SECONDS_PER_EXAMPLE):
        outcome = run_distill([part.format(**places) for part in argv], cwd=str(places["scratch"]))
    assert outcome.exit_code in (0, 2) and outcome.traceback is None, outcome.describe()
    assert "Traceback" not in outcome.output, outcome.describe()


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_any_command_line_exits_0_or_2_without_a_traceback_or_a_partial_file(path, places):
    @settings(
        max_examples=HEAVY_EXAMPLES if path in HEAVY else EXAMPLES_PER_COMMAND,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(argv=command_lines(path, places))
    def check(argv: list[str]) -> None:
        with _world(places), _time_limit(SECONDS_PER_EXAMPLE):
            outcome = run_distill(argv, cwd=str(places["scratch"]))
            partial = _partial_files(places["scratch"], path)
        if log := os.environ.get("DISTILL_FUZZ_LOG"):  # experiments/fuzz_cli.py counts what ran how far
            with open(log, "a") as handle:
                first = outcome.lines[-1][:160] if outcome.lines else ""
                handle.write(f"{' '.join(path)}\t{outcome.exit_code}\t{first}\n")
        assert outcome.exit_code in (0, 2) and outcome.traceback is None, outcome.describe()
        assert "Traceback" not in outcome.output, outcome.describe()
        assert not partial, f"{partial}\n{outcome.describe()}"

    check()
