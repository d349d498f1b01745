"""The report page: every section, every figure and player embedded and decodable, the same
figures W&B gets, and the CLI's one-line errors."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import soundfile as sf
from report_fixtures import epoch_rows, packaged_model, point_dataset_at, vqvae_csv_rows, write_csv_launch
from typer.testing import CliRunner

from distill.cli.main import app
from distill.model import DistillModel
from distill.report.build import model_report, run_report
from distill.report.figures import training_figures
from distill.report.page import render_page

WIDE = {"COLUMNS": "240"}


class Page(HTMLParser):
    """Section ids, image sources and player sources of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.players: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs["id"])
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "audio":
            self.players.append(attrs["src"])


def payload(src: str, kind: str) -> bytes:
    prefix = f"data:{kind};base64,"
    assert src.startswith(prefix)
    return base64.b64decode(src[len(prefix) :])


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    return packaged_model(tmp_path_factory.mktemp("page_model"))


@pytest.fixture(scope="module")
def model_data(packaged):
    model_path = packaged[0]
    return model_report(
        DistillModel.load(model_path), source=str(model_path), sounds=2, seed=0, max_seconds=1.0
    )


@pytest.fixture(scope="module")
def html(model_data) -> str:
    return render_page(model_data)


def test_the_model_page_has_every_section_figure_and_player(html: str) -> None:
    page = Page(html)
    assert page.sections == ["overview", "training", "codebook", "prior", "vocoder", "evaluation", "sounds"]
    # 3 loss figures, codebook health, per-level NLL, memorization; 2 generated + 2 reconstructed clips.
    assert len(page.images) == 6 + 4
    for src in page.images:
        assert payload(src, "image/png").startswith(b"\x89PNG\r\n\x1a\n")
    # 2 generated sounds; each held-out file as recorded and as reconstructed.
    assert len(page.players) == 2 + 2 * 2
    for src in page.players:
        info = sf.info(io.BytesIO(payload(src, "audio/wav")))
        assert info.subtype == "PCM_16" and info.samplerate == 44100 and 0 < info.duration <= 1.0


def test_the_page_says_what_the_records_mean(html: str) -> None:
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    # The prior's gap grew every epoch; the vocoder's val/loss (its M-STFT) is not set against its
    # weighted training loss.
    assert "Overfitting: val - train loss grew over the last 3 epochs (0.7 → 1 → 1.3)" in text
    assert "packaged checkpoint is at step 40" in text
    assert "did not grow over the last 3 epochs (at the end: mstft +0)" in text
    assert "epoch 1: codebook level 1 utilization 25.0% is below 30%" in text
    assert "Codebook health at the end (2 levels x 64 codes)" in text and "55%" in text
    # The terminal's own tables and verdicts: memorization, vocoder quality, evaluation.
    assert "window share, generated" in text and "best weights" in text
    assert "M-STFT 2.000, mel L1 0.85 on 2 held-out files" in text
    assert "Stage by stage, against the 6 training files" in text and "Fréchet distance to training" in text
    assert "most sound is lost in the prior: KAD +213.0 from via codes to generated" in text
    assert "recorded no check of its final weights" in text
    assert "held-out held/hit_7.wav" in text


def test_the_page_embeds_exactly_the_figures_wandb_gets_and_is_reproducible(model_data, html: str) -> None:
    figures = training_figures(model_data.training, model_data.memorization, model_data.memorization_last)
    assert set(figures) == {
        "losses_vqvae",
        "losses_prior",
        "losses_vocoder",
        "codebook_health",
        "nll_per_level",
        "memorization",
    }
    for png in figures.values():
        assert base64.b64encode(png).decode() in html
    assert render_page(model_data) == html  # no timestamps: the same data gives the same page


def test_a_prior_run_page_shows_only_what_the_run_has(packaged, tmp_path: Path) -> None:
    run_dir = shutil.copytree(packaged[1].prior, tmp_path / "prior")
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["loss_history"] = epoch_rows("prior")  # with per-level NLL; no CSV, as after a copy
    (run_dir / "summary.json").write_text(json.dumps(summary))
    page = Page(render_page(run_report(run_dir, sounds=2, max_seconds=1.0)))
    assert page.sections == ["overview", "training", "prior"]
    assert len(page.images) == 3 and page.players == []  # losses, per-level NLL, memorization


def run_cli(*args: str):
    return CliRunner().invoke(app, ["report", *args], env=WIDE)


def test_the_cli_writes_a_run_report(packaged, tmp_path: Path) -> None:
    run_dir = shutil.copytree(packaged[1].vqvae, tmp_path / "vqvae")
    write_csv_launch(run_dir, "2026-01-01_10-00-00", vqvae_csv_rows())
    point_dataset_at(run_dir, packaged[2])
    out = tmp_path / "out" / "vqvae.html"
    out.parent.mkdir()
    result = run_cli("--run", str(run_dir), "-o", str(out), "--sounds", "1")
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in " ".join(result.output.split())
    page = Page(out.read_text())
    assert page.sections == ["overview", "training", "codebook", "sounds"]
    assert len(page.images) == 3 and len(page.players) == 1  # losses, codebook, one clip; its recording


def test_the_cli_writes_a_model_report_found_by_path(packaged, tmp_path: Path) -> None:
    out = tmp_path / "drums.html"
    result = run_cli(str(packaged[0]), "-o", str(out), "--sounds", "1", "--seconds", "0.5")
    assert result.exit_code == 0, result.output
    assert len(Page(out.read_text()).players) == 1 + 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nosuchmodel", "--library", "{tmp}/library"], "nosuchmodel"),
        (["--run", "{tmp}/no/such/run"], "does not exist"),
        (["--run", "{tmp}"], "config.yaml"),
        (["{model}", "-o", "{tmp}/missing/report.html"], "does not exist"),
        ([], "Give either a MODEL"),
        (["{model}", "--run", "{tmp}"], "Give either a MODEL"),
        (["{model}", "--sounds", "-1"], "--sounds"),
    ],
)
def test_bad_input_is_one_error_line(packaged, tmp_path: Path, args: list[str], says: str) -> None:
    filled = [arg.format(tmp=tmp_path, model=packaged[0]) for arg in args]
    result = run_cli(*filled)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines
    assert not list(tmp_path.glob("*.html"))
