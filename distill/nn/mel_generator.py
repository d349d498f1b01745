"""The base class of distill's per-model vocoder family: log-mel frames -> waveform.

Everything above ``distill.nn`` (training, packaging, loading, rendering) speaks to a generator
through this class only, so a new kind is its own module here plus its YAML in the config tree,
``model/generator/<kind>.yaml``: nothing else names it (``distill.vocoders.kinds`` reads the kinds
and display names from the classes those files name).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn


class MelGenerator(nn.Module, ABC):
    """mel [B, n_mels, T] (``distill.audio.mel.log_mel``) -> wave [B, 1, T * hop_length] in [-1, 1].

    Subclasses set ``kind`` (the short name recorded in run summaries and model files) and
    ``display_name`` (what a person reads), ``hop_length`` in their constructor, and implement
    ``forward`` and ``receptive_field_frames``.
    """

    kind: ClassVar[str]
    display_name: ClassVar[str]
    hop_length: int
    # Renderings of a long mel in pieces equal one rendering only when each piece starts on a
    # multiple of this many frames (a generator whose output depends on t mod this sets it).
    frame_period: int = 1

    @abstractmethod
    def receptive_field_frames(self) -> int:
        """Mel frames of context on each side that can influence an output sample (upper bound):
        chunked rendering with at least this overlap equals one-shot rendering."""

    def remove_weight_norm(self) -> None:
        """Fold training-time reparametrizations into plain weights (outputs unchanged); idempotent.
        A generator trained without any has nothing to fold."""

    @abstractmethod
    def inference_module(self) -> nn.Module:
        """A frozen module computing the same function as ``forward``, laid out for fast rendering
        (an independent snapshot: later changes to this generator are not seen)."""

    @abstractmethod
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel [B, n_mels, T] -> wave [B, 1, T * hop_length]."""
