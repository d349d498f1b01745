"""What training prints: each message once, without Lightning's advertisements or warnings that
do not apply to distill's runs."""

from __future__ import annotations

import logging
import warnings

# Lightning's own advertisements, and its TPU line (distill never runs on TPUs), logged through its
# rank-zero logger at INFO.
_ADVERTISEMENTS = ("litlogger", "litmodels", "Lightning Experiments platform", "TPU available")


class _DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(word in message for word in _ADVERTISEMENTS)


def tidy_training_console() -> None:
    """Once the app's logging is set up (Hydra's console and file handlers on the root logger).

    ``import lightning`` gives the ``lightning`` logger a console handler of its own and lets it
    propagate to the root as well, so every Lightning INFO line came out twice, once bare and once
    through the app's handler: drop its own handler (only when the root has one to take over).
    """
    lightning = logging.getLogger("lightning")
    if logging.getLogger().hasHandlers():
        for handler in list(lightning.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                lightning.removeHandler(handler)
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(existing, _DropAdvertisements) for existing in rank_zero.filters):
        rank_zero.addFilter(_DropAdvertisements())
    # Lightning 2.6 calls a torch pytree API that torch 2.13 deprecates: nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # A small collection has fewer batches per epoch than the step-logging interval; Lightning
    # counts that interval across epochs, so the curves still get a point every N steps.
    warnings.filterwarnings("ignore", message=r".*is smaller than the logging interval")
