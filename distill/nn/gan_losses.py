"""HiFi-GAN training losses and a multi-resolution STFT validation metric.

Weights are applied by the caller (the Lightning module, from YAML), not here. The paper
(Kong et al. 2020, Eq. 5-6) uses: generator = adversarial + 2 * feature matching + 45 * mel L1,
with the adversarial and feature-matching terms summed over every MPD and MSD sub-discriminator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from distill.audio.mel import MelConfig, log_mel


@dataclass(frozen=True)
class DiscriminatorLoss:
    """LSGAN discriminator loss over a set of sub-discriminators.

    total: scalar, sum over sub-discriminators of (real + fake).
    real: [N_sub] mean (1 - D(x))^2 per sub-discriminator (how unsure each is about real audio).
    fake: [N_sub] mean D(G(s))^2 per sub-discriminator.
    """

    total: torch.Tensor
    real: torch.Tensor
    fake: torch.Tensor


def discriminator_loss(
    real_logits: Sequence[torch.Tensor], fake_logits: Sequence[torch.Tensor]
) -> DiscriminatorLoss:
    """LSGAN objective for D (Mao et al. 2017; HiFi-GAN Eq. 1): push real to 1, generated to 0.

    real_logits / fake_logits: one [B, N_i] tensor per sub-discriminator (``DiscriminatorResult.logits``).
    Least squares instead of the cross-entropy GAN loss: non-vanishing gradients for samples
    far on the correct side of the boundary, which the paper found more stable.
    """
    if len(real_logits) != len(fake_logits):
        raise ValueError("real and fake logits must come from the same sub-discriminators")
    real = torch.stack([torch.mean((1 - r) ** 2) for r in real_logits])  # [N_sub]
    fake = torch.stack([torch.mean(f**2) for f in fake_logits])  # [N_sub]
    return DiscriminatorLoss(total=real.sum() + fake.sum(), real=real, fake=fake)


def generator_adversarial_loss(fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """LSGAN objective for G (HiFi-GAN Eq. 2): push D(G(s)) to 1; scalar, summed over sub-discriminators."""
    return torch.stack([torch.mean((1 - f) ** 2) for f in fake_logits]).sum()


def feature_matching_loss(
    real_features: Sequence[Sequence[torch.Tensor]], fake_features: Sequence[Sequence[torch.Tensor]]
) -> torch.Tensor:
    """Feature-matching loss (HiFi-GAN Eq. 4, from Larsen et al. 2016 / MelGAN); scalar.

    Sum over sub-discriminators and layers of the mean L1 distance between the activations for
    real and generated audio (``DiscriminatorResult.features``). The paper weights it by 2
    (lambda_fm); apply that in the caller. Real features are detached: this term trains only the
    generator, and detaching spares the backward pass through D's real branch.
    """
    if len(real_features) != len(fake_features):
        raise ValueError("real and fake features must come from the same sub-discriminators")
    terms = []
    for real_layers, fake_layers in zip(real_features, fake_features, strict=True):
        for r, f in zip(real_layers, fake_layers, strict=True):
            terms.append(torch.mean(torch.abs(r.detach() - f)))
    return torch.stack(terms).sum()


def mel_l1_loss(
    fake_wave: torch.Tensor, target_mel: torch.Tensor, config: MelConfig = MelConfig()
) -> torch.Tensor:
    """Mel-spectrogram L1 (HiFi-GAN Eq. 3) on our canonical log-mel; scalar.

    fake_wave: [B, 1, T] generator output; target_mel: [B, n_mels, T // hop] mel of the real audio.
    The paper weights it by 45 (lambda_mel); apply that in the caller. It dominates early
    training and is what makes the generator converge to the right spectrum fast.
    """
    fake_mel = log_mel(fake_wave, config)  # [B, n_mels, T // hop]
    if fake_mel.shape != target_mel.shape:
        raise ValueError(
            f"mel shapes differ: generated {tuple(fake_mel.shape)} vs target {tuple(target_mel.shape)}"
        )
    return nn.functional.l1_loss(fake_mel, target_mel)


@dataclass(frozen=True)
class STFTDistance:
    """Multi-resolution STFT distance, each a scalar averaged over resolutions.

    spectral_convergence: ||S_real - S_fake||_F / ||S_real||_F (weights loud bins; 0 = identical).
    log_magnitude: mean |log S_real - log S_fake| (weights quiet bins too).
    total: spectral_convergence + log_magnitude.
    """

    spectral_convergence: torch.Tensor
    log_magnitude: torch.Tensor
    total: torch.Tensor


class MultiResolutionSTFTDistance(nn.Module):
    """Multi-resolution STFT distance (Yamamoto et al. 2020, Parallel WaveGAN, Sec. 2.3) for validation.

    Compares magnitudes at several (n_fft, hop, win) resolutions so that neither time nor
    frequency resolution alone decides the score. Recommended resolutions:
    [[512, 128, 512], [1024, 256, 1024], [2048, 512, 2048]].
    """

    def __init__(self, *, resolutions: Sequence[Sequence[int]], eps: float = 1e-7):
        super().__init__()
        if not resolutions:
            raise ValueError("need at least one resolution")
        self.resolutions = [tuple(int(v) for v in r) for r in resolutions]
        # eps keeps log() and the SC denominator finite on digital silence.
        self.eps = eps
        for i, (_, _, win) in enumerate(self.resolutions):
            self.register_buffer(f"window{i}", torch.hann_window(win), persistent=False)

    def _magnitude(self, wave: torch.Tensor, i: int) -> torch.Tensor:  # wave: [B, T] -> [B, F, frames]
        n_fft, hop, win = self.resolutions[i]
        spec = torch.stft(
            wave,
            n_fft=n_fft,
            hop_length=hop,
            win_length=win,
            window=getattr(self, f"window{i}"),
            return_complex=True,
        )
        return spec.abs().clamp_min(self.eps)

    def forward(self, fake_wave: torch.Tensor, real_wave: torch.Tensor) -> STFTDistance:
        """fake_wave, real_wave: [B, 1, T] or [B, T] of equal shape."""
        if fake_wave.shape != real_wave.shape:
            raise ValueError(f"wave shapes differ: {tuple(fake_wave.shape)} vs {tuple(real_wave.shape)}")
        fake = fake_wave.reshape(-1, fake_wave.shape[-1])  # [B, T]
        real = real_wave.reshape(-1, real_wave.shape[-1])
        sc, mag = [], []
        for i in range(len(self.resolutions)):
            s_fake, s_real = self._magnitude(fake, i), self._magnitude(real, i)
            sc.append(torch.linalg.norm(s_real - s_fake) / torch.linalg.norm(s_real).clamp_min(self.eps))
            mag.append(torch.mean(torch.abs(torch.log(s_real) - torch.log(s_fake))))
        spectral_convergence = torch.stack(sc).mean()
        log_magnitude = torch.stack(mag).mean()
        return STFTDistance(
            spectral_convergence=spectral_convergence,
            log_magnitude=log_magnitude,
            total=spectral_convergence + log_magnitude,
        )


def _anti_wrap(x: torch.Tensor) -> torch.Tensor:
    """|x| folded onto [0, pi]: the distance of a phase difference from the nearest multiple of 2 pi."""
    return torch.abs(x - 2 * torch.pi * torch.round(x / (2 * torch.pi)))


class PhaseLoss(nn.Module):
    """Anti-wrapped phase losses against the real signal's phase (APNet, Ai & Ling 2023,
    "APNet: An All-Frame-Level Neural Vocoder Incorporating Direct Prediction of Amplitude and Phase
    Spectra", Sec. 3.3): instantaneous phase, group delay (phase difference across frequency) and
    instantaneous angular frequency (across time), on STFTs framed exactly like the mel.

    Magnitude losses say nothing about phase directly; these do. Bins more than ``floor_db`` below
    the loudest bin of their clip are left out: their phase is noise and cannot be learned.
    fake, real: [B, 1, T] waves -> scalar (the three terms summed).
    """

    def __init__(self, *, n_fft: int, hop_length: int, floor_db: float):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.floor = 10.0 ** (floor_db / 20)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def _stft(self, wave: torch.Tensor) -> torch.Tensor:  # [B, 1, T] -> [B, bins, T / hop]
        pad = (self.n_fft - self.hop_length) // 2
        padded = nn.functional.pad(wave, (pad, pad), mode="reflect").squeeze(1)
        return torch.stft(
            padded, self.n_fft, self.hop_length, window=self.window, center=False, return_complex=True
        )

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        s_fake, s_real = self._stft(fake), self._stft(real)
        magnitude = s_real.abs()
        mask = (magnitude > self.floor * magnitude.amax(dim=(1, 2), keepdim=True)).float()
        # A tiny offset keeps angle()'s gradient finite where the generated bin is exactly zero.
        phase_fake, phase_real = (s_fake + 1e-9).angle(), s_real.angle()

        def masked_mean(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
            return (x * weight).sum() / weight.sum().clamp_min(1.0)

        instantaneous = masked_mean(_anti_wrap(phase_fake - phase_real), mask)
        group_delay = masked_mean(
            _anti_wrap(torch.diff(phase_fake, dim=1) - torch.diff(phase_real, dim=1)),
            mask[:, 1:] * mask[:, :-1],
        )
        angular_frequency = masked_mean(
            _anti_wrap(torch.diff(phase_fake, dim=2) - torch.diff(phase_real, dim=2)),
            mask[:, :, 1:] * mask[:, :, :-1],
        )
        return instantaneous + group_delay + angular_frequency
