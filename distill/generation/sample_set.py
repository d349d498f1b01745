"""A playable sample set from a pitched model: one sound per key (``distill generate --notes``),
and an SFZ file beside them that maps each sound to its key, for any sampler that reads SFZ.

Each region plays its own sound at its own key (``pitch_keycenter``); keys between two rendered
ones go to the nearer, so a set of every third key still covers the keyboard from end to end.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from distill.audio.control_space import note_name
from distill.files import write_text_atomic


def sfz_text(samples: Sequence[tuple[int, str]]) -> str:
    """The SFZ of (MIDI key, sample file name relative to the SFZ) pairs, one region per sample."""
    ordered = sorted(samples)
    lines = ["// Made by distill generate --notes: one generated sound per key.", "<group>"]
    for index, (key, name) in enumerate(ordered):
        low = key if index == 0 else (ordered[index - 1][0] + key) // 2 + 1
        high = key if index == len(ordered) - 1 else (key + ordered[index + 1][0]) // 2
        lines.append(
            f"<region> sample={name} lokey={low} hikey={high} pitch_keycenter={key}  // {note_name(key)}"
        )
    return "\n".join(lines) + "\n"


def key_paths(base: Path, keys: Sequence[int]) -> list[Path]:
    """A sample set's file names: ``piano.wav`` -> ``piano-048-C3.wav``, ... (sortable by key)."""
    return [
        base.with_name(f"{base.stem}-{key:03d}-{note_name(key, file_safe=True)}{base.suffix}") for key in keys
    ]


def write_sfz(path: Path, samples: Sequence[tuple[int, Path]]) -> Path:
    """Write the SFZ of (key, sample file) pairs atomically at ``path``; samples are named relative
    to its folder, so the set can be moved as a whole."""
    folder = path.parent.expanduser().resolve()
    named = [(key, _relative(Path(sample).expanduser().resolve(), folder)) for key, sample in samples]
    return write_text_atomic(path, sfz_text(named))


def _relative(sample: Path, folder: Path) -> str:
    try:
        return sample.relative_to(folder).as_posix()
    except ValueError:
        return sample.as_posix()
