"""What the studio's tests train: the suite's tiny models (conftest) for a few seconds each, as
the Train panel's per-model Hydra overrides, so a whole job runs in about a minute on 2 cores."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from conftest import TINY_PRIOR, TINY_VOCODER, TINY_VQVAE

# Many epochs of 3 batches: the time budget ends each run, so a test can watch it move.
_SHORT = [
    "debug=default",
    "trainer.max_epochs=500",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "data=small",
]


def tiny_overrides(cache: Path) -> dict[str, str]:
    """The Train panel's override field of each model, as a user would type them."""
    common = [*_SHORT, f"paths.cache_dir={cache}"]
    return {
        "vocoder": " ".join([*TINY_VOCODER[1:], *common]),
        "vqvae": " ".join([*TINY_VQVAE[1:], *common]),
        "prior": " ".join([*TINY_PRIOR[1:], *common]),
    }


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
