"""Which vocoder renders a model's mels: its own HiFi-GAN, the universal BigVGAN, or a clear error."""

from __future__ import annotations

from pathlib import Path

from distill.errors import UserError
from distill.generate.bigvgan import HUB_ID, is_available, load_bigvgan
from distill.generate.params import VocoderChoice
from distill.generate.vocoder import Vocoder

TRAIN_HINT = "train one with `distill train-vocoder <your folder>` (python train.py model=vocoder data.path=<your folder>)"


def select_vocoder(
    choice: VocoderChoice | str, *, own: Vocoder | None, bigvgan_source: str | Path = HUB_ID
) -> Vocoder:
    """Resolve ``choice`` to a ready vocoder. ``own`` is the model's trained vocoder, if it has one."""
    choice = VocoderChoice.parse(choice)
    if choice is VocoderChoice.BUNDLED or (choice is VocoderChoice.AUTO and own is not None):
        if own is None:
            raise UserError(f"This model has no vocoder of its own; {TRAIN_HINT}, or use --vocoder bigvgan.")
        return own
    if choice is VocoderChoice.BIGVGAN:
        return load_bigvgan(str(bigvgan_source))
    if is_available(bigvgan_source):
        return load_bigvgan(str(bigvgan_source))
    raise UserError(
        f"This model has no vocoder of its own and no BigVGAN is available locally; {TRAIN_HINT}"
        f" (or install BigVGAN: pip install 'distill[bigvgan]', then download {HUB_ID})."
    )
