"""Which vocoder renders a model's mels: ranked by the quality each measured on the model's own
held-out files, with the reason said in one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from distill.errors import UserError
from distill.vocoders.base import Vocoder
from distill.vocoders.bigvgan import HUB_ID, is_available, load_bigvgan
from distill.vocoders.choice import VocoderChoice
from distill.vocoders.quality import VocoderQuality

TRAIN_HINT = "train one with `distill train-vocoder <your folder>` (python train.py model=vocoder data.path=<your folder>)"
# Mel L1 (log-mel nats, re-analysed rendering vs its mel) above which a vocoder is called poor.
# Measured on held-out real recordings after 10 CPU-minutes (experiments/bench_vocoder_quality.py):
# Vocos 0.18 (drums) / 0.24 (piano), HiFi-GAN V2 1.34 / 0.70, Griffin-Lim-60 0.10 / 0.15; an
# untrained Vocos head reads ~1.0. 0.5 means the audio's mel is off by ~65 % on average.
POOR_MEL_L1 = 0.5


@dataclass(frozen=True, kw_only=True)
class VocoderSelection:
    """The chosen vocoder, why it was chosen, and a warning when its measured quality is poor."""

    vocoder: Vocoder
    reason: str
    quality: VocoderQuality | None
    warning: str | None


def select_vocoder(
    choice: VocoderChoice | str,
    *,
    own: Vocoder | None,
    own_quality: VocoderQuality | None,
    bigvgan_quality: VocoderQuality | None,
    bigvgan_source: str | Path = HUB_ID,
) -> VocoderSelection:
    """Resolve ``choice``. ``own`` is the model's trained vocoder (if any) and ``own_quality`` its
    recorded held-out quality; ``bigvgan_quality`` is BigVGAN's on the same files, when it was
    measured (at packaging, with BigVGAN installed).

    ``auto`` takes the one with the lower recorded M-STFT; without both numbers on one scale
    (``MSTFT_VERSION``) it prefers the model's own, which was trained on exactly this sound.
    """
    choice = VocoderChoice.parse(choice)
    if choice is VocoderChoice.BUNDLED:
        if own is None:
            raise UserError(f"This model has no vocoder of its own; {TRAIN_HINT}, or use --vocoder bigvgan.")
        return _chosen(own, own_quality, "the model's own (--vocoder bundled)")
    if choice is VocoderChoice.BIGVGAN:
        return _chosen(load_bigvgan(str(bigvgan_source)), bigvgan_quality, "asked for (--vocoder bigvgan)")
    bigvgan_here = is_available(bigvgan_source)
    if own is None:
        if not bigvgan_here:
            raise UserError(
                f"This model has no vocoder of its own and no BigVGAN is available locally; {TRAIN_HINT}"
                f" (or install BigVGAN: pip install 'distill[bigvgan]', then download {HUB_ID})."
            )
        return _chosen(
            load_bigvgan(str(bigvgan_source)), bigvgan_quality, "the model has no vocoder of its own"
        )
    if not bigvgan_here:
        return _chosen(own, own_quality, "the model's own; no BigVGAN is available here")
    if own_quality is None or bigvgan_quality is None:
        return _chosen(own, own_quality, "the model's own; BigVGAN was not measured on this model's files")
    if not own_quality.comparable(bigvgan_quality):
        # A model file from before MSTFT_VERSION 2 may hold an unbounded number for its own vocoder.
        return _chosen(
            own, own_quality, "the model's own; its quality and BigVGAN's were measured on different scales"
        )
    if bigvgan_quality.mstft < own_quality.mstft:
        reason = f"it renders this model's held-out files better (M-STFT {bigvgan_quality.mstft:.2f} vs the model's own {own_quality.mstft:.2f})"
        return _chosen(load_bigvgan(str(bigvgan_source)), bigvgan_quality, reason)
    reason = f"the model's own renders its held-out files better (M-STFT {own_quality.mstft:.2f} vs BigVGAN's {bigvgan_quality.mstft:.2f})"
    return _chosen(own, own_quality, reason)


def _chosen(vocoder: Vocoder, quality: VocoderQuality | None, why: str) -> VocoderSelection:
    measured = quality.describe() if quality is not None else "quality not measured"
    warning = None
    if quality is not None and quality.mel_l1 > POOR_MEL_L1:
        warning = (
            f"{vocoder.description} renders poorly (mel L1 {quality.mel_l1:.2f} on its held-out files;"
            f" good is below {POOR_MEL_L1}): train it longer (python train.py model=vocoder"
            " resume=<its run folder> trainer.max_epochs=<more>) and package it again."
        )
    return VocoderSelection(
        vocoder=vocoder,
        reason=f"vocoder: {vocoder.description} ({measured}): {why}",
        quality=quality,
        warning=warning,
    )
