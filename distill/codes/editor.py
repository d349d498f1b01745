"""``CodeEditor``: a code grid under edit, with undo/redo and a session that replays exactly.

Every edit (one of ``distill.codes.edits.EDITS``) is recorded as its name and JSON parameters,
defaults included; the other grids an edit reads (a transplant's source, a morph's or join's
second grid) are kept by name in the session. All edits are deterministic given their parameters (the sampling ones take a seed), so a saved session
replays from its starting grid to the identical grid, and so to identical audio.

    editor = CodeEditor(model, model.encode("kick.wav"))
    editor.add_source("snare", model.encode("snare.wav"))
    editor.add_source("piano", piano.encode("c3.wav"), model=piano)   # another model's grid
    editor.apply("transplant", region={"start": 2, "stop": 4, "rows": [4, 8]}, source="snare", source_start=0)
    editor.apply("infill", start=3, stop=5, seed=1)
    editor.undo(); editor.redo()
    editor.save("session.json")                # and CodeEditor.load("session.json", model) replays it
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from distill.codes import edits
from distill.codes.grid import CodeGrid
from distill.errors import UserError


class SourceModel(Protocol):
    """What a second grid's own model gives the editor (``distill.model.DistillModel`` is one)."""

    name: str
    vqvae_digest: str

    def render(self, grid: CodeGrid) -> Any: ...  # an Audio: samples and sample_rate


FORMAT = "distill.edit-session"
FORMAT_VERSION = 1


class CodeEditor:
    """A grid being edited: ``apply`` an edit, ``undo``/``redo``, ``save`` and ``load`` a session."""

    def __init__(self, model: edits.EditableModel, grid: CodeGrid) -> None:
        grid.check_model(model.vqvae_digest, model.name)
        self.model = model
        self.start = grid
        self.sources: dict[str, CodeGrid] = {}
        self._records: list[dict[str, Any]] = []  # every edit applied, including undone ones
        self._grids: list[CodeGrid] = [grid]  # _grids[i]: the grid after the first i edits
        self._position = 0  # edits in effect

    @property
    def grid(self) -> CodeGrid:
        return self._grids[self._position]

    @property
    def history(self) -> list[dict[str, Any]]:
        """The edits in effect, oldest first, each ``{"edit": name, "params": {...}}``."""
        return [dict(record) for record in self._records[: self._position]]

    @property
    def can_undo(self) -> bool:
        return self._position > 0

    @property
    def can_redo(self) -> bool:
        return self._position < len(self._records)

    def add_source(self, name: str, grid: CodeGrid, model: SourceModel | None = None) -> None:
        """Keep ``grid`` under ``name`` for edits that read a second grid.

        A grid of another model, given with that ``model``, is first brought into this model's
        codes: rendered by its own model and encoded by this one ("its gestures in this sound",
        as ``distill blend --how resynth``). Two RVQ-VAEs trained apart share no latent space, so
        mixing their latents would mean nothing; the sound is what they share. A morph towards it
        then moves this model's sound towards the other's within this model's codes, and the
        session keeps the converted grid, so it replays without the other model.
        """
        if model is not None and grid.vqvae_digest != self.model.vqvae_digest:
            grid.check_model(model.vqvae_digest, model.name)
            grid = self._in_own_codes(grid, model)
        grid.check_model(self.model.vqvae_digest, self.model.name)
        self.sources[name] = grid

    def _in_own_codes(self, grid: CodeGrid, model: SourceModel) -> CodeGrid:
        from distill.audio.io import resample

        audio = model.render(grid)  # mono: a rendering of one grid
        # Two models at different rates still meet in the sound.
        return self.model.encode(
            resample(audio.samples, audio.sample_rate, self.model.mel_config.sample_rate)
        )

    def source(self, name: Any) -> CodeGrid:
        if name not in self.sources:
            known = ", ".join(sorted(self.sources)) or "none yet; add one with add_source"
            raise UserError(f"no source grid named {name!r} (known: {known}).")
        return self.sources[name]

    def apply(self, edit: str, **params: Any) -> CodeGrid:
        """Apply ``edit`` (a name in ``edits.EDITS``) with JSON ``params``; an undone future is dropped."""
        chosen = edits.find(edit)
        # What is recorded is what runs: plain JSON data, the defaults included, so a session
        # replays the same grid even after a default changes.
        params = json.loads(json.dumps({**chosen.defaults, **params}))
        new = chosen(self.grid, params, model=self.model, source=self.source)
        del self._records[self._position :], self._grids[self._position + 1 :]
        self._records.append({"edit": edit, "params": params})
        self._grids.append(new)
        self._position += 1
        return new

    def undo(self) -> CodeGrid:
        if not self.can_undo:
            raise UserError("nothing to undo.")
        self._position -= 1
        return self.grid

    def redo(self) -> CodeGrid:
        if not self.can_redo:
            raise UserError("nothing to redo.")
        self._position += 1
        return self.grid

    # --- sessions ---------------------------------------------------------------------------------

    def session(self) -> dict[str, Any]:
        """JSON data that :meth:`replay` turns back into this editor's grid (undone edits too)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model": {"name": self.model.name, "vqvae_digest": self.model.vqvae_digest},
            "start": self.start.to_json(),
            "sources": {name: grid.to_json() for name, grid in self.sources.items()},
            "edits": [dict(record) for record in self._records],
            "position": self._position,
        }

    def save(self, path: str | Path) -> Path:
        """Write the session as JSON, atomically."""
        from distill.files import atomic_write

        path = Path(path)
        data = json.dumps(self.session()).encode()
        atomic_write(path, lambda handle: handle.write(data))
        return path

    @classmethod
    def replay(
        cls,
        session: Any,
        model: edits.EditableModel,
        *,
        start: CodeGrid | None = None,
        source: str = "the session",
    ) -> CodeEditor:
        """An editor with the session's edits applied again, and as many undone as were undone;
        ``start``: apply them to this grid instead of the session's own starting grid."""
        if not isinstance(session, dict) or session.get("format") != FORMAT:
            raise UserError(f"{source} is not a distill edit session.")
        if not isinstance(session.get("version"), int) or session["version"] > FORMAT_VERSION:
            raise UserError(f"{source} is a newer edit session than this distill reads: update distill.")
        try:
            editor = cls(model, start if start is not None else CodeGrid.from_json(session["start"]))
            for name, grid in session.get("sources", {}).items():
                editor.add_source(name, CodeGrid.from_json(grid))
            records = session["edits"]
            position = int(session.get("position", len(records)))
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"{source} is a damaged edit session ({error}).") from None
        for record in records:
            if not isinstance(record, dict) or not isinstance(record.get("params"), dict):
                raise UserError(f"{source} is a damaged edit session (an edit without parameters).")
            editor.apply(str(record.get("edit")), **record["params"])
        for _ in range(len(records) - position):
            editor.undo()
        return editor

    @classmethod
    def load(
        cls, path: str | Path, model: edits.EditableModel, *, start: CodeGrid | None = None
    ) -> CodeEditor:
        """The session saved at ``path``, replayed (on ``start`` if given; see :meth:`replay`)."""
        from distill.files import FileSystemError

        path = Path(path)
        try:
            session = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"{path}: no such edit session; check the path.") from None
        except OSError as error:  # permission denied, a folder, a file on the way: not a bad session
            raise FileSystemError(path, error, action="read") from None
        except ValueError as error:
            raise UserError(f"{path} is not an edit session ({error}).") from None
        return cls.replay(session, model, start=start, source=str(path))
