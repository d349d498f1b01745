"""notebooks/02-code-editing.ipynb runs top to bottom against a tiny model packaged in the test."""

import pytest
from conftest import package_trained
from run_notebook import run_notebook

pytestmark = pytest.mark.slow


def test_code_editing_notebook_executes(trained_runs, tmp_path, monkeypatch):
    library = tmp_path / "library"
    package_trained(trained_runs, name="editing-test", library=library)
    # A second model to morph towards (the same runs: the notebook's step is the same for any).
    package_trained(trained_runs, name="editing-other", library=library)
    monkeypatch.setenv("DISTILL_HOME", str(library))  # the kernel, a child process, inherits these
    monkeypatch.setenv("DISTILL_NOTEBOOK_MODEL", "editing-test")
    monkeypatch.setenv("DISTILL_NOTEBOOK_OTHER_MODEL", "editing-other")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    _, outputs, text = run_notebook("02-code-editing.ipynb", tmp_path)
    assert "edits in effect: ['transplant', 'infill', 'vary_levels']" in text
    assert "replays to the identical grid: True" in text
    shown = [output for output in outputs if output.output_type == "display_data"]
    images = [output for output in shown if "image/png" in output.data]
    players = [output for output in shown if "<audio" in output.data.get("text/html", "")]
    # two sounds, then four edits and the morph towards the other model, each before and after
    assert len(images) == 7 and len(players) == 7
    assert list(tmp_path.glob("distill-codes-*/edited.codes"))
    assert "widget: loop applied" in text
    assert any("application/vnd.jupyter.widget-view+json" in output.get("data", {}) for output in outputs)
