"""A patch discriminator on log-mel images, for adversarial training of the RVQ-VAE's decoder.

A decoder trained on L1 distances alone learns the mean of what the codes leave undetermined:
a snare's noise grain, a cymbal's shimmer and a pipe's upper partials come back as smooth,
averaged surfaces. A discriminator that judges local patches of the mel asks for texture that is
plausible instead of averaged (VQGAN, Esser et al. 2021, "Taming Transformers for High-Resolution
Image Synthesis"; on mel spectrograms SpecVQGAN, Iashin & Rahtu 2021). Each member is the
PatchGAN of Isola et al. 2017 (VQGAN's ``NLayerDiscriminator``): stride-2 4x4 convolutions, then
stride-1 ones down to a map of logits, one per overlapping patch of the mel. Several members see
the mel at coarser time and frequency scales (average-pooled by 2, 4, ...), as MelGAN's
multi-scale waveform discriminator does, so both fine grain and the shape of a whole partial or
decay are judged. Spectral norm on every convolution instead of VQGAN's batch norm: batches here
are a few crops, and a batch statistic would let real and generated batches tell themselves apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from distill.nn.conv_codec import MEL_HALF_RANGE, SILENCE_LOG_MEL
from distill.nn.discriminators import DiscriminatorResult, layer_activations


class MelPatchDiscriminator(nn.Module):
    """Log-mel [B, n_mels, T] -> every layer's activation; the last is the logit map [B, 1, F', T'].

    ``channels``: widths of the stride-2 layers (each halves frequency and time), then one 3x3
    layer at the last width and the 1-channel 3x3 logit layer; each logit sees a patch of 46 x 46
    mel cells for three stride-2 layers. A mel shorter than 2 ** len(channels) frames (or bands) is
    padded with silence up to it, so any crop can be judged.
    """

    def __init__(self, *, channels: Sequence[int], leaky_relu_slope: float) -> None:
        super().__init__()
        if not channels:
            raise ValueError("channels needs at least one width")
        self.slope = leaky_relu_slope
        layers, in_ch = [], 1
        for out_ch in channels:
            layers.append(spectral_norm(nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1)))
            in_ch = out_ch
        layers.append(spectral_norm(nn.Conv2d(in_ch, in_ch, 3, stride=1, padding=1)))
        self.convs = nn.ModuleList(layers)
        self.conv_post = spectral_norm(nn.Conv2d(in_ch, 1, 3, stride=1, padding=1))
        self.min_size = 2 ** len(channels)

    def forward(self, mel: torch.Tensor) -> list[torch.Tensor]:
        x = ((mel - SILENCE_LOG_MEL) / MEL_HALF_RANGE).unsqueeze(1)  # [B, 1, n_mels, T], silence 0
        short_f, short_t = max(0, self.min_size - x.shape[-2]), max(0, self.min_size - x.shape[-1])
        if short_f or short_t:
            x = nn.functional.pad(x, (0, short_t, 0, short_f))  # zeros: silence
        return layer_activations(x, self.convs, self.conv_post, self.slope)


class MultiScaleMelDiscriminator(nn.Module):
    """One ``MelPatchDiscriminator`` per scale (1 = the mel as it is, 2 = average-pooled by 2 in
    frequency and time, ...), each with its own weights; returns a ``DiscriminatorResult``
    (logits flattened to [B, N_i] per member) for the losses in ``gan_losses``."""

    def __init__(self, *, scales: Sequence[int], channels: Sequence[int], leaky_relu_slope: float) -> None:
        super().__init__()
        if not scales or any(scale < 1 for scale in scales):
            raise ValueError(f"scales must be whole numbers >= 1, got {list(scales)}")
        self.scales = tuple(int(scale) for scale in scales)
        self.members = nn.ModuleList(
            MelPatchDiscriminator(channels=channels, leaky_relu_slope=leaky_relu_slope) for _ in self.scales
        )

    def forward(self, mel: torch.Tensor) -> DiscriminatorResult:  # mel: [B, n_mels, T]
        logits, features = [], []
        for scale, member in zip(self.scales, self.members, strict=True):
            seen = mel if scale == 1 else nn.functional.avg_pool2d(mel[:, None], scale)[:, 0]
            layers = member(seen)
            logits.append(layers[-1].flatten(1))
            features.append(layers)
        return DiscriminatorResult(logits=logits, features=features)
