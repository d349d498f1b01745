"""Every call of the public notebook API (``distill/__init__.py``) that reads or writes a file, by
name, each on a path it is given: what ``test_api_file_errors.py`` drives in the test process and,
for permission cases, in a child as an ordinary user::

    python notebook_calls.py MODEL.distillgan CASES.json RESULTS.json

runs each ``[kind, call, path]`` of CASES.json in this one process (torch is imported once) and
writes what each raised: its classes' names, its message and, for anything not a UserError, the
traceback a notebook would show.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECONDS = 0.3  # the sound every call works on: long enough for a code column, quick to make


@dataclass
class Made:
    """A tiny model and what the notebook API makes with it: the objects whose ``save`` is tested."""

    model: Any  # DistillModel
    generation: Any  # Generation
    editor: Any  # CodeEditor, one edit applied
    widget: Any  # CodeEditorWidget on that editor


def make(model_file: Path) -> Made:
    from distill import CodeEditor, CodeEditorWidget, DistillModel

    model = DistillModel.load(model_file)
    generation = model.generate(seed=0, duration_s=SECONDS, mode="continuous")
    editor = CodeEditor(model, generation.grid)
    editor.apply("cut", start=0, stop=1)
    return Made(model=model, generation=generation, editor=editor, widget=CodeEditorWidget(editor))


def _plot_generation(made: Made, path: Path) -> Path:
    from distill import plot_generation

    grid = made.generation.grid
    return plot_generation(made.generation.mel, grid.codes, path, frames_per_column=grid.frames_per_column)


def _plot_edit(made: Made, path: Path) -> Path:
    from distill import plot_edit

    grid, edited = made.generation.grid, made.editor.grid
    mel = made.generation.mel
    return plot_edit(
        (mel, grid.codes),
        (mel, edited.codes),
        path,
        frames_per_column=grid.frames_per_column,
        codebook_size=made.model.vqvae.quantizer.codebook_size,
    )


def _load(path: Path) -> Any:
    from distill import DistillModel

    return DistillModel.load(path)


def _load_from_library(made: Made, library: Path) -> Any:
    from distill import DistillModel

    return DistillModel.load("tiny", library=library)


def _load_grid(path: Path) -> Any:
    from distill import CodeGrid

    return CodeGrid.load(path)


def _load_session(made: Made, path: Path) -> Any:
    from distill import CodeEditor

    return CodeEditor.load(path, made.model)


def _generate_from_prompt(made: Made, path: Path) -> Any:
    from distill import generate

    return generate(made.model, SECONDS, prompt_audio=path, mode="continuous")


def _generate_binaural(made: Made, path: Path) -> Any:
    return made.model.generate(duration_s=SECONDS, mode="continuous", binaural=(30.0, 0.0), hrtf=str(path))


# call name -> (made, the path the user gives) -> what it returns
WRITES: dict[str, Callable[[Made, Path], Any]] = {
    "DistillModel.save": lambda made, path: made.model.save(path),
    "CodeGrid.save": lambda made, path: made.generation.grid.save(path),
    "Audio.save": lambda made, path: made.generation.audio.save(path),
    "CodeEditor.save": lambda made, path: made.editor.save(path),
    "CodeEditorWidget.save": lambda made, path: made.widget.save(path),
    "plot_generation": _plot_generation,
    "plot_edit": _plot_edit,
}
# The file name each write is given (what a user would name it).
WRITE_NAMES = {
    "DistillModel.save": "x.distillgan",
    "CodeGrid.save": "x.codes",
    "Audio.save": "x.wav",
    "CodeEditor.save": "x.json",
    "CodeEditorWidget.save": "x.json",
    "plot_generation": "x.png",
    "plot_edit": "x.png",
}
READS: dict[str, Callable[[Made, Path], Any]] = {
    "DistillModel.load": lambda made, path: _load(path),
    "DistillModel.load(library=)": _load_from_library,
    "CodeGrid.load": lambda made, path: _load_grid(path),
    "DistillModel.encode": lambda made, path: made.model.encode(path),
    "generate(prompt_audio=)": _generate_from_prompt,
    "DistillModel.remake": lambda made, path: made.model.remake(path),
    "CodeEditor.load": _load_session,
    "generate(hrtf=)": _generate_binaural,
}
# What each read is given: a source the test writes (see test_api_file_errors.sources).
READ_SOURCES = {
    "DistillModel.load": "model",
    "DistillModel.load(library=)": "library",
    "CodeGrid.load": "grid",
    "DistillModel.encode": "sound",
    "generate(prompt_audio=)": "sound",
    "DistillModel.remake": "sidecar",
    "CodeEditor.load": "session",
    "generate(hrtf=)": "hrtf",
}


def outcome(call: Callable[[], Any]) -> dict[str, Any]:
    """What ``call`` raised, as JSON: ``types`` (its classes' names, most derived first), ``message``
    and, for an error that is not a UserError (what a notebook shows as a traceback), ``traceback``."""
    from distill.errors import UserError

    try:
        call()
    except Exception as error:  # noqa: BLE001 -- every failure is the outcome being tested
        return {
            "types": [cls.__name__ for cls in type(error).__mro__],
            "message": str(error),
            "traceback": None if isinstance(error, UserError) else traceback.format_exc(),
        }
    return {"types": [], "message": "", "traceback": None}


def run(made: Made, kind: str, call: str, path: str) -> dict[str, Any]:
    table = WRITES if kind == "write" else READS
    return outcome(lambda: table[call](made, Path(path)))


if __name__ == "__main__":
    model_file, cases_file, results_file = map(Path, sys.argv[1:4])
    made = make(model_file)
    cases = json.loads(cases_file.read_text())
    results_file.write_text(json.dumps([run(made, *case) for case in cases]))
