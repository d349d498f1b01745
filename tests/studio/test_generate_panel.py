"""The Generate panel driven as a notebook (or the browser's buttons) drives it: tiny packaged
models in a library, sounds made in the panel's thread, cards, keep / vary / edit, and every bad
input told as one status line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_library import tiny_library, tiny_model_file
from tiny_model import TINY_CONTROLS

from distill.bundle.catalog import ModelLibrary
from distill.errors import UserError
from distill.studio.common import StudioContext
from distill.studio.generate_panel import GeneratePanel
from distill.vocoders import bigvgan


def found(widget, name: str) -> list:
    """The widgets under ``widget`` with CSS class ``ds-<name>``, as the browser test finds them."""
    hits = [widget] if f"ds-{name}" in getattr(widget, "_dom_classes", ()) else []
    for child in getattr(widget, "children", ()):
        hits += found(child, name)
    return hits


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tiny_library(tmp_path_factory.mktemp("library") / "lib", ("plain",))
    piano = tiny_model_file(root.parent / "piano.distillgan", name="piano", controls=TINY_CONTROLS)
    ModelLibrary(root=root).add(piano, name="piano")
    return root


@pytest.fixture
def panel(library, tmp_path) -> GeneratePanel:
    panel = GeneratePanel(StudioContext(workspace=tmp_path / "studio", library_root=library))
    panel.model.value = "plain"
    panel.mode.value = "continuous"
    panel.duration.value = "0.3"
    return panel


def one_line_error(panel: GeneratePanel) -> str:
    text = panel.status.text
    assert "ds-error" in panel.status.value and text and "\n" not in text and "Traceback" not in text
    return text


def test_the_dropdown_lists_the_library_and_a_deleted_model_is_one_line(tmp_path):
    root = tiny_library(tmp_path / "lib", ("one",))
    context = StudioContext(workspace=tmp_path / "studio", library_root=root)
    panel = GeneratePanel(context)
    assert panel.model.options == ("one",) and panel.model.value == "one"
    assert context.library_listeners == [panel.refresh]
    ModelLibrary(root=root).add(tiny_model_file(tmp_path / "two.distillgan", name="two", seed=1), name="two")
    assert panel.model.options == ("one",)  # until the library says it changed
    context.library_changed()
    assert panel.model.options == ("one", "two") and panel.model.value == "one"

    ModelLibrary(root=root).delete("one")  # deleted elsewhere while the panel still lists it
    panel.duration.value = "0.3"
    panel.generate(wait=True)
    assert "one" in one_line_error(panel) and panel.results == [] and not panel.go.disabled
    panel.refresh_button.click()
    assert panel.model.options == ("two",) and panel.model.value == "two"


def test_a_batch_becomes_cards_that_keep_vary_and_edit(panel):
    opened = []
    panel.context.open_editor = lambda grid, model, title: opened.append((grid, model, title))
    panel.count.value, panel.seed.value = "4", "3"
    panel.go.click()
    panel._thread.join()  # the click runs it in the background, as in a notebook
    assert [result.seed for result in panel.results] == [3, 4, 5, 6] and not panel.go.disabled
    cards = found(panel, "generate-card")
    assert len(cards) == 4 and found(panel, "generate-results")[0].children == tuple(cards)
    for card in cards:
        (player,), (thumb,) = found(card, "generate-player"), found(card, "generate-thumb")
        assert player.value[:4] == b"RIFF" and len(player.value) > 1000 and not player.autoplay
        assert thumb.value[:8] == b"\x89PNG\r\n\x1a\n"
        assert [len(found(card, f"generate-{name}")) for name in ("keep", "vary", "edit")] == [1, 1, 1]
    assert len({result.audio.samples.tobytes() for result in panel.results}) == 4
    assert panel.status.text.startswith("4 sounds from plain, seeds 3 to 6, mode continuous; vocoder:")

    found(cards[1], "generate-keep")[0].click()
    kept = panel.context.kept / "plain-4.wav"
    assert kept.read_bytes()[:4] == b"RIFF" and str(kept) in panel.status.text
    sidecar = json.loads(Path(f"{kept}.json").read_text())
    assert sidecar["metadata"]["generation"]["seed"] == 4 and sidecar["metadata"]["model"]["name"] == "plain"
    assert panel.keep(1) == kept and sorted(panel.context.kept.iterdir()) == [kept, Path(f"{kept}.json")]

    found(cards[0], "generate-edit")[0].click()
    ((grid, model, title),) = opened
    assert grid is panel.results[0].grid and model.name == "plain" and title == "plain seed 3"

    source = panel.results[2]
    found(cards[2], "generate-vary")[0].click()
    panel._thread.join()
    varied = panel.results
    assert [(result.seed, result.variation) for result in varied] == [(5, 1), (5, 2), (5, 3), (5, 4)]
    assert len(found(panel, "generate-card")) == 4 and panel.seed.value == "3"  # the fields are untouched
    assert "variations 1 to 4 of seed 5" in panel.status.text
    for result in varied:  # the same coarse codes, the finer ones drawn again
        assert torch.equal(result.grid.codes[0], source.grid.codes[0])
    assert all(not torch.equal(result.grid.codes[1:], source.grid.codes[1:]) for result in varied)
    assert panel.keep(0).name == "plain-5-v1.wav"


def test_controls_are_shown_only_for_a_model_that_has_them(panel):
    def shown() -> set[str]:
        return {name[3:] for widget in _walk(panel.controls_box) for name in widget._dom_classes}

    assert shown() == set()
    panel.model.value = "piano"
    assert shown() == {"generate-pitch"} | {
        f"generate-{kind}-{name}" for name in TINY_CONTROLS for kind in ("control", "ask")
    }
    # A control asked for reaches the sound's settings as its slider's 0..1.
    slider, ask = panel._controls["brightness"]
    slider.value, ask.value, panel.count.value = 0.8, True, "1"
    panel.generate(wait=True)
    (result,) = panel.results
    assert result.generation.params.controls == {"brightness": 0.8}
    panel.model.value = "plain"
    assert shown() == set() and panel._controls == {}


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


BAD_FIELDS = [
    ("count", "0", "count must be from 1 to 64"),
    ("count", "65", "count must be"),
    ("count", "many", "count must be"),
    ("temperature", "-1", "temperature must be a number > 0"),
    ("temperature", "warm", "temperature must be a number > 0"),
    ("top_p", "2", "top-p must be in (0, 1]"),
    ("top_k", "1.5", "top-k must be a whole number"),
    ("seed", "x", "seed must be a whole number"),
    ("duration", "-3", "duration must be a number of seconds"),
]


def test_a_bad_field_is_one_status_line_and_nothing_is_made(panel):
    for field, typed, said in BAD_FIELDS:  # one panel for all: each is checked before anything runs
        widget = getattr(panel, field)
        kept, widget.value = widget.value, typed
        panel.generate(wait=True)
        assert one_line_error(panel).startswith(said), (field, typed)
        assert panel.results == [] and not panel.go.disabled and not panel.running
        widget.value = kept


def test_requests_the_model_cannot_honour_are_one_status_line(panel):
    panel.model.value = "piano"
    panel.pitch.value = "H9"
    panel.generate(wait=True)
    assert one_line_error(panel).startswith("'H9' is not a note")
    panel.pitch.value = ""
    panel.mode.value = "one-shot"  # the tiny models record no collection shape
    panel.generate(wait=True)
    assert "records no collection shape" in one_line_error(panel) and panel.results == []
    assert panel.keep(0) is None and one_line_error(panel) == "There is no sound 0: 0 are shown."
    panel.edit(3)
    panel.vary(-1)
    assert one_line_error(panel) == "There is no sound -1: 0 are shown."


def test_the_vocoder_line_and_a_failed_bigvgan_download(panel, monkeypatch):
    monkeypatch.setattr(bigvgan, "is_available", lambda source=bigvgan.HUB_ID: False)
    panel.refresh()
    info = panel.vocoder_info.value
    assert info.startswith("auto would use HiFi-GAN") and info.endswith("BigVGAN: not installed")
    assert panel.download.layout.display != "none"

    def offline(source, *, download, progress=None):
        # The hub reports a file's bytes through the panel's progress class before the line drops.
        with progress(total=4096, desc="bigvgan_generator.pt", unit="B") as bar:
            bar.update(1024)
        raise UserError(
            f"Could not download BigVGAN '{source}': the hub is unreachable (or HF_HUB_OFFLINE is set)."
        )

    monkeypatch.setattr(bigvgan, "locate", offline)
    panel.download_bigvgan(wait=True)
    assert one_line_error(panel).startswith("Could not download BigVGAN") and not panel.download.disabled
    assert panel.download_bar.value == 0.25 and panel.download_bar.layout.display != "none"
    assert panel.download_text.value == "bigvgan_generator.pt: 1.00kB of 4.00kB"

    monkeypatch.setattr(bigvgan, "is_available", lambda source=bigvgan.HUB_ID: True)
    panel.refresh()
    assert panel.vocoder_info.value.endswith("BigVGAN: installed") and panel.download.layout.display == "none"
