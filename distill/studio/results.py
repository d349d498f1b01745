"""What the Generate panel shows of a batch: each sound as a card (player, mel thumbnail, seed,
keep / vary / edit), and the library model it came from, loaded once while its file is unchanged.

A ``Result`` keeps the model that made it: a card's "keep" and "edit" still work on the sound
after another model is chosen in the dropdown.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as widgets

from distill.files import interrupts_deferred, wav_bytes
from distill.generation.pipeline import Generation
from distill.model import DistillModel
from distill.studio.common import StudioContext, named

THUMB_WIDTH = "240px"  # the card's width: four cards side by side in a notebook's output area


@dataclass(eq=False)
class Result:
    """One generated sound: its seed, the pipeline's ``Generation`` (audio, code grid, mel, the
    resolved settings) and the model that made it; ``kept`` is where "keep" wrote it, once it has."""

    seed: int
    generation: Generation
    model: DistillModel
    kept: Path | None = None

    @property
    def audio(self):
        return self.generation.audio

    @property
    def grid(self):
        return self.generation.grid

    @property
    def variation(self) -> int:
        return self.generation.params.variation

    @property
    def title(self) -> str:
        return f"{self.model.name} seed {self.seed}" + (
            f" variation {self.variation}" if self.variation else ""
        )


def keep_result(result: Result, folder: Path) -> Path:
    """Write ``result`` to ``folder`` as ``<model>-<seed>.wav`` with its sidecar (what ``distill
    generate`` writes: 48 kHz, the peak limited; the sidecar remakes it with ``--from``).

    A sound kept already is not written twice; another sound of the same name and seed (made with
    other settings) gets the next free name rather than replacing the first."""
    if result.kept is not None and result.kept.is_file():
        return result.kept
    variation = f"-v{result.variation}" if result.variation else ""
    target = _free_path(folder, f"{result.model.name}-{result.seed}{variation}", ".wav")
    with interrupts_deferred():  # the audio and its sidecar are written as a pair
        written = result.audio.save(target)
    result.kept = written.path
    return written.path


def _free_path(folder: Path, stem: str, suffix: str) -> Path:
    candidate, number = folder / f"{stem}{suffix}", 2
    while candidate.exists():
        candidate, number = folder / f"{stem}-{number}{suffix}", number + 1
    return candidate


def thumbnail_png(result: Result) -> bytes:
    """The sound's mel above its code grid (``distill.codes.plot.plot_generation``, the picture
    ``distill generate --plot`` and the report draw), as PNG bytes for the card."""
    from distill.codes.plot import plot_generation

    grid = result.grid
    with tempfile.TemporaryDirectory() as folder:
        path = plot_generation(
            result.generation.mel,
            grid.codes,
            Path(folder) / "thumb.png",
            frames_per_column=grid.frames_per_column,
            codebook_size=result.model.vqvae.quantizer.codebook_size,
        )
        return path.read_bytes()


def result_card(
    result: Result,
    *,
    on_keep: Callable[[], object],
    on_vary: Callable[[], object],
    on_edit: Callable[[], object],
) -> widgets.VBox:
    """A card: seed and length, mel thumbnail, player, and the keep / vary / edit buttons (the
    callbacks come guarded from the panel: a failure is its status line)."""
    audio = result.audio
    player = named(
        widgets.Audio(value=wav_bytes(audio.samples, audio.sample_rate), format="wav", autoplay=False),
        "generate-player",
    )
    player.layout.width = THUMB_WIDTH
    thumb = named(
        widgets.Image(value=thumbnail_png(result), format="png", layout=widgets.Layout(width=THUMB_WIDTH)),
        "generate-thumb",
    )
    buttons = []
    for name, tooltip, action in (
        ("keep", "write it with its sidecar to the workspace's kept/ folder", on_keep),
        ("vary", "variations of this sound: its coarse codes, the finer ones drawn again", on_vary),
        ("edit", "open its code grid in the Edit tab", on_edit),
    ):
        button = named(
            widgets.Button(description=name, tooltip=tooltip, layout=widgets.Layout(width="72px")),
            f"generate-{name}",
        )
        button.on_click(lambda _button, action=action: action())
        buttons.append(button)
    variation = f" variation {result.variation}" if result.variation else ""
    label = widgets.HTML(f"<b>seed {result.seed}{variation}</b> &nbsp; {audio.duration_s:.2f} s")
    card = widgets.VBox(
        [label, thumb, player, widgets.HBox(buttons)],
        layout=widgets.Layout(border="1px solid #ddd", padding="4px", width="fit-content"),
    )
    return named(card, "generate-card")


class ModelCache:
    """The library model last asked for, loaded again only when its file changed. Each request
    resolves the name in the library, so a model deleted since it was listed is one clear error
    (``UnknownModelError``) rather than a sound from a file that is gone."""

    def __init__(self, context: StudioContext) -> None:
        self.context = context
        self._key: tuple | None = None
        self._model: DistillModel | None = None

    def get(self, name: str) -> DistillModel:
        path = self.context.library.resolve(name)
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key != self._key or self._model is None:
            self._model, self._key = DistillModel.load(path), key
        return self._model

    def forget(self) -> None:
        """Drop the loaded model: its vocoder choices are cached with it (after a BigVGAN download
        ``auto`` may choose differently)."""
        self._key = self._model = None
