"""notebooks/01-generate.ipynb runs top to bottom against a tiny model packaged in the test."""

import pytest
from conftest import ROOT, package_trained

pytestmark = pytest.mark.slow


def test_generate_notebook_executes(trained_runs, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    library = tmp_path / "library"
    package_trained(trained_runs, name="notebook-test", library=library)
    # The kernel is a child process: it inherits these.
    monkeypatch.setenv("DISTILL_HOME", str(library))
    monkeypatch.setenv("DISTILL_NOTEBOOK_MODEL", "notebook-test")
    monkeypatch.setenv("DISTILL_NOTEBOOK_SECONDS", "1.5")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    notebook = nbformat.read(ROOT / "notebooks" / "01-generate.ipynb", as_version=4)
    source = "".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    imports = [line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert {name.split(".")[0] for name in imports} <= {
        "os",
        "tempfile",
        "dataclasses",
        "pathlib",
        "IPython",
        "distill",
    }

    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    assert "notebook-test: components ('vqvae', 'prior', 'vocoder')" in text
    assert text.count("1.50 s of audio") == 3
    audio_players = [
        output
        for output in outputs
        if "text/html" in output.get("data", {}) and "<audio" in output.data["text/html"]
    ]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(audio_players) == 6 and len(images) == 3
    assert len(list(tmp_path.glob("distill-generated-*/notebook-test-seed*.wav"))) == 3
