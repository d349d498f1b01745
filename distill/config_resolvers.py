"""OmegaConf resolvers used by configs/ (registered when distill.train is imported)."""

from __future__ import annotations

from omegaconf import OmegaConf

# The VQ-VAE halves the 128 mel bands and the crop's frames four times (16x in both axes).
_CELL = 16
_MEL_BANDS = 128


def dead_code_threshold(batch_size: int, crop_frames: int, codebook_size: int, fraction: float) -> float:
    """``fraction`` of the expected uses of each code in one batch (cells per batch / codebook size).

    The library compares this with each code's EMA use count, whose steady state is exactly that
    expectation for a uniformly used codebook, so the rule means the same at any batch or crop size.
    """
    cells = batch_size * (_MEL_BANDS // _CELL) * -(-crop_frames // _CELL)
    return fraction * cells / codebook_size


def register() -> None:
    OmegaConf.register_new_resolver("dead_code_threshold", dead_code_threshold, replace=True)
