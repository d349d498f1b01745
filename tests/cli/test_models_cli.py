"""`distill models list|info|add|delete|repair|tag|untag` and the one-line errors of `distill package`.

The library commands read manifests only, so the model files here hold placeholder tensors and the
metadata `distill package` writes (tests/bundle/test_package.py checks that metadata itself).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from distill.bundle.catalog import ModelLibrary
from distill.bundle.format import ComponentPayload, write_model_file
from distill.cli.main import app

WIDE = {"COLUMNS": "240"}  # rich fits tables to the terminal; a wide one keeps cells unwrapped


def metadata(name: str, *, vocoder: bool = True, prior: bool = True) -> dict:
    meta = {
        "id": uuid.uuid4().hex,
        "name": name,
        "created": "2026-05-09T07:35:25+00:00",
        "distill_version": "0.1.0",
        "dataset": {
            "root": "/home/me/sounds/drums",
            "tier": "small",
            "file_count": 12,
            "skipped_count": 2,
            "total_duration_s": 31.5,
            "train_files": [f"hit_{i}.wav" for i in range(10)],
            "val_files": ["hit_10.wav", "hit_11.wav"],
            "content_hashes": ["ab" * 32] * 12,
        },
        "codebook": {"levels": 3, "size": 64},
        "codebook_health": {
            "levels": [
                {"level": i, "utilization": u, "perplexity": 50.5 - 10 * i, "dead_codes": 2 + i}
                for i, u in enumerate((0.95, 0.62, 0.8))
            ],
            "validation": [
                {"level": i, "utilization": 0.5, "perplexity": 20.0, "dead_codes": 32} for i in range(3)
            ],
        },
        "codebook_warnings": ["epoch 3: codebook level 1 utilization 28.0% is below 30%"],
        "training": {
            "vqvae": {
                "run": "/runs/vqvae",
                "checkpoint": "/runs/vqvae/checkpoints/last.ckpt",
                "steps": 3000,
                "epochs": 40,
                "tier": "small",
                "final_metrics": {"val/mel_l1": 0.4321, "train/loss": 0.5},
                "dataset": {"root": "/home/me/sounds/drums", "file_count": 12, "total_duration_s": 31.5},
            }
        },
        "loss_history": {
            "vqvae": [{"epoch": e, "step": 75 * e, "val/loss": 2.0 - e / 40} for e in range(40)]
        },
        "memorization": None,
        "vqvae_digest": "d1" * 32,
        "tags": ["kit"],
    }
    if prior:
        meta["training"]["prior"] = {
            "run": "/runs/prior",
            "steps": 9000,
            "epochs": 30,
            "vqvae_digest": "d1" * 32,
        }
        meta["memorization"] = {
            "window": 2,
            "n_generated": 8,
            "n_heldout": 2,
            "generated_share_mean": 0.3125,
            "generated_share_max": 0.5,
            "generated_run_mean": 3.5,
            "generated_run_max": 7,
            "heldout_share_mean": 0.05,
            "heldout_share_max": 0.1,
            "heldout_run_mean": 2.0,
            "heldout_run_max": 3,
            "share_ratio": 6.25,
            "ratio_threshold": 2.0,
            "min_share": 0.2,
            "flagged": True,
        }
    if vocoder:
        meta["vocoder"] = {
            "type": "vocos",
            "steps": 50000,
            "quality": {"mel_l1": 0.2468, "mstft": 1.4321, "files": 3, "mstft_version": 2},
            "final_losses": {"val/mel_l1": 0.2468},
        }
    return meta


def model_file(folder: Path, name: str, **kinds) -> Path:
    meta = metadata(name, **kinds)
    parts = {"vqvae": ComponentPayload({"w": torch.zeros(2)}, "model: {}\n")}
    for component in ("prior", "vocoder"):
        if kinds.get(component, True):
            parts[component] = ComponentPayload({"w": torch.zeros(2)}, "model: {}\n")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.distillgan"
    write_model_file(path, parts, meta)
    return path


@pytest.fixture
def library(tmp_path: Path) -> ModelLibrary:
    return ModelLibrary(root=tmp_path / "library")


@pytest.fixture
def full(library: ModelLibrary, tmp_path: Path) -> ModelLibrary:
    library.add(model_file(tmp_path / "files", "drums"))
    library.add(model_file(tmp_path / "files", "voice", vocoder=False, prior=False), tags=["speech"])
    return library


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(app, list(args), env=WIDE, input=input)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_list_and_info_on_an_empty_library(library: ModelLibrary) -> None:
    result = run("models", "list", "--library", str(library.root))
    assert result.exit_code == 0, result.output
    assert flat(result.output).startswith(f"No models in the library at {library.root} yet")
    missing = run("models", "info", "drums", "--library", str(library.root))
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    assert missing.output.strip().splitlines() == [
        f"error: The library at {library.root} has no model 'drums'; it has no models yet: make one with"
        " `distill package` (or copy a .distillgan file in with `distill models add`)."
    ]


def test_list_shows_one_row_per_model(full: ModelLibrary) -> None:
    result = run("models", "list", "--library", str(full.root))
    assert result.exit_code == 0, result.output
    drums, voice = full.get("drums"), full.get("voice")
    cells = [line.replace("┃", "│").split("│")[1:-1] for line in result.output.splitlines()]
    rows = {row[0].strip(): [cell.strip() for cell in row] for row in cells if len(row) > 5}
    assert rows["name"] == [
        "name",
        "id",
        "created",
        "tier",
        "files",
        "duration",
        "components",
        "vocoder",
        "min codebook use",
        "tags",
    ]
    assert rows["drums"] == [
        "drums",
        drums.id[:8],
        "2026-05-09 07:35",
        "small",
        "12",
        "31.5 s",
        "vqvae, prior, vocoder",
        "Vocos (50000 steps, M-STFT 1.43)",
        "62%",
        "kit",
    ]
    assert rows["voice"][1] == voice.id[:8] and rows["voice"][6:] == ["vqvae", "—", "62%", "kit, speech"]


def test_info_renders_the_whole_manifest(full: ModelLibrary) -> None:
    entry = full.get("drums")
    result = run("models", "info", entry.id[:8], "--library", str(full.root))
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    for expected in (
        "Model drums",
        entry.id,
        "distillgan 1",
        "distill 0.1.0",
        "vqvae, prior, vocoder",
        "Vocos (50000 steps, M-STFT 1.43)",
        "d1d1d1",
        "12 usable, 2 skipped",
        "10 training, 2 validation",
        "31.5 s",
        "/home/me/sounds/drums",
        "12 files, first abababab",
        "Codebook health (3 levels x 64 codes)",
        "│ 1 │ 62% │ 40.5 │ 3 │ 50% │ 20 │",
        "codebook warning: epoch 3: codebook level 1 utilization 28.0% is below 30%",
        "│ vqvae │ 3000 │ 40 │ small │ /runs/vqvae │ │ prior │ 9000 │ 30 │",
        "│ vqvae │ val/mel_l1 │ 0.4321 │",
        "│ vqvae │ val/loss │ 40 │ 2 │ 1.025 │ 1.025 │",
        "flagged: the prior may copy its training set",
        "31% mean, 50% max",
        "5% mean, 10% max",
        "6.25 (flagged above 2x with a share above 20%)",
        "3.5 mean, 7 max columns",
        "Vocoder (lower is better)",
        "held-out quality │ M-STFT 1.432, mel L1 0.2468 on 3 held-out files",
        "BigVGAN, same files │ not measured",
        "renders │ real mels",
        "val/mel_l1 │ 0.2468",
    ):
        assert expected in out, expected
    as_json = run("models", "info", str(entry.path), "--json")
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert document["metadata"]["name"] == "drums" and document["components"] == ["vqvae", "prior", "vocoder"]
    assert set(document["sha256"]) == {
        f"{c}.{ext}" for c in ("vqvae", "prior", "vocoder") for ext in ("yaml", "safetensors")
    }


def test_info_of_a_sparse_model_file(tmp_path: Path) -> None:
    path = tmp_path / "bare.distillgan"
    write_model_file(path, {"vqvae": ComponentPayload({"w": torch.zeros(1)}, "{}\n")}, {"id": "0" * 32})
    result = run("models", "info", str(path))
    assert result.exit_code == 0, result.output
    assert "Model bare" in result.output and "—" in result.output


def test_add_tag_untag_and_delete(full: ModelLibrary, tmp_path: Path) -> None:
    root = str(full.root)
    added = run(
        "models",
        "add",
        str(model_file(tmp_path / "out", "strings")),
        "--name",
        "cello",
        "--tag",
        "bowed",
        "--library",
        root,
    )
    assert added.exit_code == 0, added.output
    assert full.get("cello").tags == ("bowed", "kit")
    assert (
        run("models", "tag", "cello", "warm", "solo", "--library", root).output.strip()
        == "cello: tags bowed, kit, solo, warm"
    )
    assert run("models", "untag", "cello", "kit", "--library", root).exit_code == 0
    assert full.get("cello").tags == ("bowed", "solo", "warm")

    kept = run("models", "delete", "cello", "--library", root, input="n\n")
    assert kept.exit_code == 1 and "Delete the model cello" in kept.output
    assert full.get("cello").path.exists()
    asked = run("models", "delete", "cello", "--library", root, input="y\n")
    assert asked.exit_code == 0 and "Deleted cello." in asked.output
    assert run("models", "delete", full.get("voice").id, "--yes", "--library", root).exit_code == 0
    assert [entry.name for entry in full.list()] == ["drums"]


def test_repair_after_the_index_is_deleted(full: ModelLibrary) -> None:
    full.index_path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{full.index_path}{suffix}").unlink(missing_ok=True)
    (full.models_dir / "junk.distillgan").write_bytes(b"not a model")
    result = run("models", "repair", "--library", str(full.root))
    assert result.exit_code == 0, result.output
    assert "Indexed 2 model(s)" in result.output and "skipped junk.distillgan" in flat(result.output)
    assert [entry.name for entry in full.list()] == ["drums", "voice"]
    assert full.get("voice").tags == ("kit", "speech")


@pytest.mark.parametrize(
    "args",
    [
        ["models", "info", "nothing"],
        ["models", "info", "/no/such/file.distillgan"],
        ["models", "delete", "nothing", "--yes"],
        ["models", "tag", "nothing", "x"],
        ["models", "tag", "drums", " padded"],
        ["models", "add", "/no/such/file.distillgan"],
        ["package", "--vqvae", "/no/such/run", "--name", "x"],
        ["package", "--vqvae", "/no/such/run", "--name", "../escape"],
        ["package", "--vqvae", "/no/such/run", "--name", "drums"],
    ],
)
def test_bad_input_exits_2_with_one_line(full: ModelLibrary, args: list[str]) -> None:
    result = run(*args, "--library", str(full.root))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith("."), lines


def test_library_commands_do_not_import_torch(full: ModelLibrary) -> None:
    probe = (
        "import sys; from distill.cli.main import app\n"
        "for args in (['list'], ['info', 'drums']):\n"
        f"    app(['models', *args, '--library', {str(full.root)!r}], standalone_mode=False)\n"
        "print(sorted({'torch', 'lightning', 'hydra'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env={"COLUMNS": "200", "PATH": ""}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]" and "drums" in result.stdout
