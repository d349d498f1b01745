"""`distill generate` on a full disk: one error line, exit code 2, nothing left in the output folder.

The disk is "filled" by a file-size limit (RLIMIT_FSIZE) in a child process running the command:
writes past it fail with EFBIG, which distill treats as it treats ENOSPC (no space left).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tiny_library import tiny_model_file

pytestmark = [
    pytest.mark.slow,  # a child process that imports torch: several seconds
    pytest.mark.skipif(sys.platform == "win32", reason="resource limits are POSIX"),
]

CHILD = """
import resource, signal, sys
# Ignored, SIGXFSZ no longer kills the process: the write past the limit fails with EFBIG instead.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv = ["distill", *sys.argv[2:]]
from distill.cli.main import main
main()
"""


def test_a_full_disk_during_export_is_one_error_line_and_leaves_no_file(tmp_path):
    model = tiny_model_file(tmp_path / "tiny.distillgan")  # a path: the library index is not touched
    out = tmp_path / "out"
    out.mkdir()
    # 20 kB: the model file reads fine, the sidecar (~2 kB) would fit, 1 s of 48 kHz pcm24 (144 kB) not.
    args = ["generate", str(model), "--mode", "continuous", "-d", "1", "-o", str(out / "x.wav")]
    result = subprocess.run(
        [sys.executable, "-c", CHILD, "20000", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"},
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: Cannot write {out / 'x.wav'}: file too large (disk full"), lines[0]
    assert list(out.iterdir()) == []  # no audio, no sidecar, no temp file
