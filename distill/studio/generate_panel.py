"""The Generate panel: choose a library model and its settings, make a batch of sounds in the
background, listen to them on cards, keep, vary or edit one.

The settings are the ones ``distill generate`` takes, checked by the same code
(``GenerationParams.check``, ``check_seeds``, the model's ``ControlSpace``), so a value the CLI
refuses is refused here with the same sentence, on the panel's status line. The numeric fields are
text: what a person types reaches that check as typed, and an empty duration means the model's own
default (``distill.generation.pipeline.resolve``).
"""

from __future__ import annotations

import html
import threading
from dataclasses import replace
from pathlib import Path

import ipywidgets as widgets

from distill.errors import UserError
from distill.generation.params import GenerationParams, batch
from distill.generation.pipeline import requested_controls, resolve
from distill.studio.common import Status, StudioContext, guarded, named, progress_class, relist
from distill.studio.results import ModelCache, Result, keep_result, result_card
from distill.vocoders import bigvgan

MAX_COUNT = 64  # sounds per batch: each is a card with a player, and a notebook page must stay usable
DEFAULTS = GenerationParams()
MODES = (
    ("auto (as the collection suggests)", "auto"),
    ("one-shot", "one-shot"),
    ("continuous", "continuous"),
)
VOCODERS = (("auto", "auto"), ("the model's own", "bundled"), ("BigVGAN", "bigvgan"))


class GeneratePanel(widgets.VBox):
    """Make sounds with a library model. ``generate()``, ``keep(i)``, ``vary(i)`` and ``edit(i)`` are
    what the buttons do, callable from a notebook; none raises: a failure is the status line."""

    def __init__(self, context: StudioContext) -> None:
        self.context = context
        self.status = Status("generate")
        self.results: list[Result] = []
        self._models = ModelCache(context)
        self._controls: dict[str, tuple[widgets.FloatSlider, widgets.Checkbox]] = {}
        self._thread: threading.Thread | None = None

        def text(name: str, label: str, value: object, placeholder: str = "") -> widgets.Text:
            field = widgets.Text(value=str(value), description=label, placeholder=placeholder)
            field.style.description_width = "100px"  # "temperature", "duration (s)" whole
            return named(field, name)

        self.model = named(widgets.Dropdown(description="model", options=[]), "generate-model")
        self.refresh_button = named(widgets.Button(description="refresh", icon="refresh"), "generate-refresh")
        self.vocoder = named(widgets.Dropdown(description="vocoder", options=VOCODERS), "generate-vocoder")
        self.vocoder_info = named(widgets.HTML(), "generate-vocoder-info")
        self.download = named(widgets.Button(description="download BigVGAN"), "generate-download")
        self.download_bar = named(widgets.FloatProgress(value=0.0, min=0.0, max=1.0), "generate-download-bar")
        self.download_text = named(widgets.HTML(), "generate-download-text")
        self.download_bar.layout.display = "none"
        self.mode = named(widgets.Dropdown(description="mode", options=MODES), "generate-mode")
        self.count = text("generate-count", "count", 4, f"1 to {MAX_COUNT}")
        self.duration = text("generate-duration", "duration (s)", "", "the model's default")
        self.temperature = text("generate-temperature", "temperature", DEFAULTS.temperature)
        self.top_k = text("generate-top-k", "top-k", DEFAULTS.top_k, "0 = off")
        self.top_p = text("generate-top-p", "top-p", DEFAULTS.top_p, "1 = off")
        self.seed = text("generate-seed", "seed", DEFAULTS.seed)
        self.pitch = text("generate-pitch", "note", "", "e.g. C3 (overrides the pitch slider)")
        self.controls_box = widgets.VBox([])
        self.go = named(widgets.Button(description="generate", button_style="primary"), "generate-go")
        self.progress = named(widgets.HTML(), "generate-progress")
        self.results_grid = named(
            widgets.GridBox(
                [], layout=widgets.Layout(grid_template_columns="repeat(auto-fill, 260px)", grid_gap="8px")
            ),
            "generate-results",
        )

        self._listing = False
        self.model.observe(lambda change: self._listing or self._guarded(self._show_model), names="value")
        self.refresh_button.on_click(lambda _button: self.refresh())
        self.download.on_click(lambda _button: self.download_bigvgan())
        self.go.on_click(lambda _button: self.generate())
        context.library_listeners.append(self.refresh)

        fields = [self.mode, self.count, self.duration, self.temperature, self.top_k, self.top_p, self.seed]
        super().__init__(
            [
                widgets.HBox([self.model, self.refresh_button]),
                widgets.HBox([self.vocoder, self.download, self.download_bar, self.download_text]),
                self.vocoder_info,
                widgets.GridBox(fields, layout=widgets.Layout(grid_template_columns="repeat(2, 320px)")),
                self.controls_box,
                widgets.HBox([self.go, self.progress]),
                self.status,
                self.results_grid,
            ]
        )
        named(self, "generate")
        self.refresh()

    # --- what the buttons do ----------------------------------------------------------------------

    def refresh(self) -> None:
        """List the library's models again, keeping the chosen one while it is still there."""
        self._guarded(self._refresh)

    def generate(self, wait: bool = False) -> None:
        """Make ``count`` sounds with seeds seed, seed+1, ... in a background thread (``wait``: join
        it). Every setting is checked first, so a bad one is told before anything is made."""
        self._guarded(self._generate, wait)

    def keep(self, index: int) -> Path | None:
        """Write result ``index`` with its sidecar to ``context.kept``; the path written (None on failure)."""
        return self._guarded(self._keep, index)

    def vary(self, index: int, wait: bool = False) -> None:
        """Variations of result ``index``: ``count`` sounds with its settings and seed, each the
        same coarse codes (envelope, partials) with the finer levels drawn again
        (``GenerationParams.variation``; their sidecars remake them)."""
        self._guarded(self._vary, index, wait)

    def edit(self, index: int) -> None:
        """Open result ``index``'s code grid in the Edit panel (``context.open_editor``)."""
        self._guarded(self._edit, index)

    def download_bigvgan(self, wait: bool = False) -> None:
        """Download BigVGAN-v2 in the background, as ``distill vocoder download`` does."""
        self._guarded(self._download, wait)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- the work --------------------------------------------------------------------------------

    def _guarded(self, action, *args):
        return guarded(self.context, self.status, action)(*args)

    def _refresh(self) -> None:
        names = [entry.name for entry in self.context.library.list()]
        self._listing = True  # new options reset the dropdown's value: shown once, below
        try:
            relist(self.model, names)
        finally:
            self._listing = False
        self._show_model()  # once, and again for the same name: its file may have changed
        if not names:
            self.status.say(f"The library at {self.context.library_root} has no models yet; train one first.")

    def _chosen_model(self):
        if not self.model.value:
            raise UserError("Choose a model first (the library has none yet: train and package one).")
        return self._models.get(self.model.value)

    def _show_model(self) -> None:
        """The chosen model's controls and vocoder line; a model that will not load clears both."""
        self.controls_box.children = ()
        self._controls = {}
        self.vocoder_info.value = ""
        if not self.model.value:
            return
        model = self._chosen_model()
        space = model.controls
        rows = []
        for name in space.ranges if space is not None else ():
            slider = named(
                widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, description=name),
                f"generate-control-{name}",
            )
            ask = named(
                widgets.Checkbox(value=False, description="ask", indent=False), f"generate-ask-{name}"
            )
            self._controls[name] = (slider, ask)
            span = widgets.HTML(f"0..1 = {space.describe_range(name)}")
            rows.append(widgets.HBox([ask, slider, span]))
        if space is not None and "pitch" in space.ranges:
            rows.append(self.pitch)
        self.controls_box.children = rows
        self._show_vocoder()

    def _show_vocoder(self) -> None:
        """One line: what ``auto`` picks for this model and why, and whether BigVGAN is here."""
        here = bigvgan.is_available()
        self.download.layout.display = None if not here else "none"
        if not self.model.value:
            return
        try:
            picked = self._chosen_model().select_vocoder("auto").reason.removeprefix("vocoder: ")
        except UserError as error:  # no vocoder at all: the line says what to do
            picked = f"nothing: {error}"
        installed = "installed" if here else "not installed"
        self.vocoder_info.value = html.escape(f"auto would use {picked} · BigVGAN: {installed}", quote=False)

    def _params(self, model) -> list[GenerationParams]:
        """The batch's settings, one per sound, checked as ``distill generate`` checks them."""
        controls: dict[str, float | str] = {
            name: slider.value for name, (slider, ask) in self._controls.items() if ask.value
        }
        if "pitch" in self._controls and self.pitch.value.strip():
            controls["pitch"] = self.pitch.value.strip()
        params = GenerationParams(
            mode=None if self.mode.value == "auto" else self.mode.value,
            duration_s=_typed(self.duration.value),
            temperature=_typed(self.temperature.value),
            top_k=_typed(self.top_k.value),
            top_p=_typed(self.top_p.value),
            seed=_typed(self.seed.value),
            vocoder=self.vocoder.value,
            controls=controls,
        )
        sounds = batch(params, _typed(self.count.value), max_count=MAX_COUNT, what="count")
        requested_controls(model, params)  # a control or note the model cannot honour
        resolve(model, params)  # one-shot for a model that records no collection shape
        return sounds

    def _generate(self, wait: bool) -> None:
        if self.running:
            raise UserError("A batch is being made; wait for it to finish.")
        model = self._chosen_model()
        self._start(model, self._params(model), wait)

    def _start(self, model, sounds: list[GenerationParams], wait: bool) -> None:
        count = len(sounds)
        self.results = []
        self.results_grid.children = ()
        self.status.clear()
        self.go.disabled = True
        self.progress.value = f"sound 1 of {count} …"
        self._thread = threading.Thread(target=self._make, args=(model, sounds), daemon=True)
        self._thread.start()
        if wait:
            self._thread.join()

    def _make(self, model, sounds: list[GenerationParams]) -> None:
        """The background thread: one sound after another, each card shown as soon as it is made."""
        count = len(sounds)

        def make_all() -> None:
            for index, params in enumerate(sounds):
                variation = f", variation {params.variation}" if params.variation else ""
                label = f"sound {index + 1} of {count} (seed {params.seed}{variation})"
                self.progress.value = f"{label} …"

                def on_stage(stage: str, label: str = label) -> None:
                    self.progress.value = f"{label}: {stage} …"

                made = model.generate(params, on_stage=on_stage)
                result = Result(seed=params.seed, generation=made, model=model)
                self.results.append(result)
                self.results_grid.children = (*self.results_grid.children, self._card(index, result))
            first = self.results[0].generation
            warnings = [w for result in self.results for w in result.generation.warnings]
            warning = first.vocoder.warning or (warnings[0] if warnings else None)
            which = (
                f"variations {sounds[0].variation} to {sounds[-1].variation} of seed {sounds[0].seed}"
                if sounds[0].variation
                else f"seeds {sounds[0].seed} to {sounds[-1].seed}"
            )
            self.status.say(
                f"{count} sound{'s' * (count > 1)} from {model.name}, {which}, mode {first.params.mode};"
                f" {first.vocoder.reason}" + (f" (warning: {warning})" if warning else "")
            )

        try:
            guarded(self.context, self.status, make_all)()
        finally:
            made = len(self.results)
            self.progress.value = "" if made == count else f"stopped after {made} of {count}"
            self.go.disabled = False

    def _card(self, index: int, result: Result) -> widgets.VBox:
        return result_card(
            result,
            on_keep=lambda: self.keep(index),
            on_vary=lambda: self.vary(index),
            on_edit=lambda: self.edit(index),
        )

    def _result(self, index: int) -> Result:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.results):
            raise UserError(f"There is no sound {index}: {len(self.results)} are shown.")
        return self.results[index]

    def _keep(self, index: int) -> Path:
        result = self._result(index)
        path = keep_result(result, self.context.kept)
        self.status.say(f"kept {result.title} as {path} (with its sidecar {path.name}.json)")
        return path

    def _vary(self, index: int, wait: bool) -> None:
        if self.running:
            raise UserError("A batch is being made; wait for it to finish.")
        result = self._result(index)
        made = result.generation.params
        first = replace(made, variation=made.variation + 1)
        sounds = batch(first, _typed(self.count.value), max_count=MAX_COUNT, what="count")
        self._start(result.model, sounds, wait)

    def _edit(self, index: int) -> None:
        result = self._result(index)
        if self.context.open_editor is None:
            raise UserError("No editor is connected; open the studio (Studio()) to edit a sound.")
        self.context.open_editor(result.grid, result.model, result.title)

    def _download(self, wait: bool) -> None:
        self.download.disabled = True
        self.status.say(f"downloading BigVGAN ({bigvgan.HUB_ID}) once; later runs use it offline …")

        self.download_bar.value, self.download_text.value = 0.0, ""
        self.download_bar.layout.display = None
        progress = progress_class(self.download_bar, self.download_text)

        def fetch() -> None:
            folder = bigvgan.locate(bigvgan.HUB_ID, download=True, progress=progress)
            bigvgan.load_bigvgan(str(folder))  # proves the files load and match distill's mel
            self._models.forget()  # its cached vocoder choice predates BigVGAN
            self.status.say(f"BigVGAN ready in {folder}")
            self._show_vocoder()

        def run() -> None:
            try:
                guarded(self.context, self.status, fetch)()
            finally:
                self.download.disabled = False

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        if wait:
            thread.join()


def _typed(text: str) -> int | float | str | None:
    """A field as typed: a whole number, a number, nothing (empty: the default) or the text itself,
    which the settings' own check then names in its sentence."""
    text = text.strip()
    if not text:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text
