"""Execute a notebook of notebooks/ in a real kernel and return its code cells' outputs."""

from pathlib import Path

import nbformat
from conftest import ROOT
from nbclient import NotebookClient


def run_notebook(name: str, working_dir: Path) -> tuple[nbformat.NotebookNode, list, str]:
    """(the executed notebook, every code cell output, the stream text); fails on any error output,
    and on an import from distill's modules: a notebook uses the public API (``from distill import``)."""
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code").splitlines()
    inside = [
        line for line in source if line.startswith(("import distill", "from distill.", "from distill "))
    ]
    assert all(line.startswith("from distill import ") for line in inside), inside
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(working_dir)}}
    ).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    errors = [output for output in outputs if output.output_type == "error"]
    assert not errors, errors
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    return notebook, outputs, text
