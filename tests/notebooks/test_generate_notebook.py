"""notebooks/01-generate.ipynb runs top to bottom against a tiny model packaged in the test."""

import pytest
from conftest import package_trained
from run_notebook import run_notebook

pytestmark = pytest.mark.slow


def test_generate_notebook_executes(trained_runs, tmp_path, monkeypatch):
    library = tmp_path / "library"
    package_trained(trained_runs, name="notebook-test", library=library)
    # The kernel is a child process: it inherits these.
    monkeypatch.setenv("DISTILL_HOME", str(library))
    monkeypatch.setenv("DISTILL_NOTEBOOK_MODEL", "notebook-test")
    monkeypatch.setenv("DISTILL_NOTEBOOK_SECONDS", "1.5")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    notebook, _, text = run_notebook("01-generate.ipynb", tmp_path)
    source = "".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    imports = [line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert {name.split(".")[0] for name in imports} <= {
        "os",
        "tempfile",
        "pathlib",
        "IPython",
        "distill",
    }
    assert "notebook-test: components ('vqvae', 'prior', 'vocoder')" in text
    assert text.count("1.50 s of audio") == 3
    assert "remade from its sidecar, the same samples: True" in text
