"""Vocos-style generator: a ConvNeXt backbone at mel frame rate and an inverse-STFT head.

Instead of upsampling 512x with transposed convolutions (HiFi-GAN), the network predicts, per mel
frame, the complex STFT frame of the audio it describes, and one inverse STFT turns that into
samples. Every layer runs at 86 frames/s, which is why it renders tens of times faster than
HiFi-GAN on a CPU and learns faster per CPU-second.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from distill.audio.mel import MelConfig, log_mel, mel_filterbank
from distill.nn.mel_generator import MelGenerator

# Vocos clips the predicted magnitude at 1e2: exp() of an untrained head can overflow.
_MAX_MAGNITUDE = 1e2
# Floor of the filterbank-inverse magnitude before its log; the mel's own log floor.
_PINV_FLOOR = 1e-5
# The mel-matching rescaling moves a band by at most this factor either way per pass (log of 4):
# where a band of the rendering is near silence, the ratio is noise, not a level to restore.
_MAX_LOG_CORRECTION = math.log(4.0)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block (Liu et al. 2022) in 1-D, as Vocos uses it: depthwise conv (kernel 7) ->
    LayerNorm -> pointwise expand, GELU, pointwise project -> layer scale -> residual add.
    x [B, C, T] -> [B, C, T]."""

    def __init__(self, *, dim: int, intermediate_dim: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        # Layer scale keeps each block near identity at the start, so a deep stack trains stably.
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)  # [B, T, C]
        y = self.pwconv2(nn.functional.gelu(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class InverseSTFT(nn.Module):
    """Inverse STFT whose framing is exactly ``log_mel``'s: frame t covers samples
    [t * hop - (n_fft - hop) / 2, t * hop + (n_fft + hop) / 2), so T frames give T * hop samples and
    frame t renders the samples the mel frame t was measured on.

    Windowed overlap-add normalised by the summed squared window (what ``torch.istft`` does for
    center=True), then the (n_fft - hop) / 2 samples of padding trimmed from both ends, as in
    Vocos' "same" padding. spec [B, n_fft / 2 + 1, T] complex -> wave [B, T * hop].
    """

    def __init__(self, *, n_fft: int, hop_length: int):
        super().__init__()
        if (n_fft - hop_length) % 2:
            raise ValueError("n_fft - hop_length must be even for frame-exact framing")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.pad = (n_fft - hop_length) // 2
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.render_frames(spec.transpose(1, 2))

    def render_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """The same from frame-major spectra [B, T, n_fft / 2 + 1] (what a per-frame head makes,
        without a transpose each way)."""
        count = frames.shape[1]
        pieces = torch.fft.irfft(frames, n=self.n_fft, dim=-1) * self.window  # [B, T, n_fft]
        wave = self._overlap_add(pieces)
        envelope = self._overlap_add(self.window.square().expand(1, count, -1))[0]
        trim = slice(self.pad, wave.shape[-1] - self.pad)
        return wave[:, trim] / envelope[trim].clamp_min(1e-11)

    def _overlap_add(self, pieces: torch.Tensor) -> torch.Tensor:
        """[B, T, n_fft] frames hop apart -> [B, (T - 1) * hop + n_fft] samples."""
        batch, frames, _ = pieces.shape
        length = (frames - 1) * self.hop_length + self.n_fft
        if self.n_fft % self.hop_length:
            fold = dict(output_size=(1, length), kernel_size=(1, self.n_fft), stride=(1, self.hop_length))
            return nn.functional.fold(pieces.transpose(1, 2), **fold).reshape(batch, length)
        # n_fft = k * hop: frame t's j-th hop-block lands on output block t + j, so the overlap-add
        # is k shifted sums of [B, T, hop] blocks (far cheaper on a CPU than fold's col2im).
        k = self.n_fft // self.hop_length
        blocks = pieces.reshape(batch, frames, k, self.hop_length)
        out = pieces.new_zeros(batch, frames + k - 1, self.hop_length)
        for j in range(k):
            out[:, j : j + frames] += blocks[:, :, j]
        return out.reshape(batch, length)


class VocosGenerator(MelGenerator):
    """Vocos (Siuzdak 2023, "Vocos: Closing the gap between time-domain and Fourier-based neural
    vocoders for high-quality audio synthesis", arXiv:2306.00814), on distill's mel.

    mel [B, n_mels, T] -> wave [B, 1, T * hop]: conv embedding (kernel 7) -> LayerNorm ->
    ``num_layers`` ConvNeXt blocks -> LayerNorm -> linear head giving, per frame, a log-magnitude
    and a phase for each of the n_fft / 2 + 1 bins -> ``InverseSTFT``.

    magnitude_residual: the head's log-magnitude is added to log(pinv(mel filterbank) @ exp(mel)),
        the magnitude a filterbank inverse reads straight off the mel, so the network only learns
        a correction (and the phase). Measured on 2 CPU cores (docs/DESIGN.md): mel L1 1.03 at step 0,
        and about twice as far in the same budget as without it. The correction's weights start at
        zero, so at step 0 the magnitude is exactly the filterbank inverse.
    mel_consistency_iterations: at inference (eval mode), this many times: render, re-analyse the
        rendered audio's mel, and rescale every bin of each band by exp(input mel - rendered mel)
        (clamped to a factor of 4 either way, spread over the bins by the filterbank's weights). The
        head's phases never add up perfectly, and where overlapping frames disagree the inverse STFT
        cancels energy: on a kit it never saw, a 3-minute model rendered the bands below 800 Hz 2-3 dB
        below what its own head predicted. The rescaling restores each band's level from the mel
        itself, whatever the phases did. Training sees the uncorrected output (the correction is a
        fixed refinement, like Griffin-Lim's; validation scores it). 0 = off; files written before
        the option existed load with 0.
    time_invariant_phase: the head's phase is read as phase relative to the start of the rendering
        rather than to the start of each frame; bin k of frame t is rotated by 2 pi k (t hop mod
        n_fft) / n_fft before the inverse STFT. In the frame-start convention a steady partial's
        phase turns by 2 pi f hop / sr every frame, which a convolutional network (it cannot know
        t) can only give as the same phase in every frame: identical frames add up to a signal that
        repeats every hop, so steady partials snap to multiples of sr / hop (86 Hz). In this
        convention a steady partial on a bin has one phase in all frames. The rotation repeats every
        ``frame_period`` frames, so chunks must start on multiples of it.
    The DC bin is always zero: a vocoder has no business writing an offset.
    """

    kind = "vocos"
    display_name = "Vocos"

    def __init__(
        self,
        *,
        in_channels: int,
        dim: int,
        intermediate_dim: int,
        num_layers: int,
        n_fft: int,
        hop_length: int,
        magnitude_residual: bool,
        sample_rate: int,
        mel_consistency_iterations: int = 0,
        time_invariant_phase: bool = False,
    ):
        super().__init__()
        self.hop_length = hop_length
        self.n_fft = n_fft
        self.bins = n_fft // 2 + 1
        self.magnitude_residual = magnitude_residual
        self.mel_consistency_iterations = mel_consistency_iterations
        self.frame_period = n_fft // math.gcd(n_fft, hop_length) if time_invariant_phase else 1
        self.embed = nn.Conv1d(in_channels, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(dim=dim, intermediate_dim=intermediate_dim, layer_scale=1.0 / num_layers)
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, 2 * self.bins)  # [log-magnitude | phase] per bin
        self.istft = InverseSTFT(n_fft=n_fft, hop_length=hop_length)
        # The mel this generator reads (distill's, at these sizes and rate) and its filterbank.
        self.mel_config = MelConfig(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=in_channels
        )
        filterbank = mel_filterbank(self.mel_config)
        if magnitude_residual:
            # [bins, n_mels]: a fixed linear map, saved with the weights so a file is self-contained.
            self.register_buffer("mel_inverse", torch.linalg.pinv(filterbank.double()).float())
        if time_invariant_phase:
            # [frame_period, bins]: frame t's rotation is row t mod frame_period (not saved).
            starts = torch.arange(self.frame_period, dtype=torch.float64)[:, None] * hop_length % n_fft
            rotation = 2 * math.pi * starts * torch.arange(self.bins, dtype=torch.float64) / n_fft
            self.register_buffer("phase_rotation", rotation.remainder(2 * math.pi).float(), persistent=False)
        if mel_consistency_iterations:
            # Rebuilt from the sizes (not saved), so files keep their old members. [n_mels, bins]:
            # each bin's share of its bands (columns divided by the bin's total weight); [bins]: 1
            # where no band covers the bin, so its factor is 1.
            coverage = filterbank.sum(0)
            self.register_buffer("band_share", filterbank / coverage.clamp_min(1e-12), persistent=False)
            self.register_buffer("uncovered", (coverage == 0).to(filterbank.dtype), persistent=False)
        self.apply(self._init_weights)
        if magnitude_residual:
            with torch.no_grad():
                self.head.weight[: self.bins].zero_()
                self.head.bias[: self.bins].zero_()

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # Vocos' initialisation: truncated normal (std 0.02), zero bias.
        if isinstance(module, nn.Conv1d | nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def spectrum(self, mel: torch.Tensor) -> torch.Tensor:
        """The complex STFT frames the head predicts: mel [B, n_mels, T] -> [B, n_fft / 2 + 1, T]."""
        return self._frames(mel).transpose(1, 2)

    def _frames(self, mel: torch.Tensor) -> torch.Tensor:  # mel [B, n_mels, T] -> [B, T, bins] complex
        x = self.embed(mel)  # [B, dim, T]
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        out = self.head(self.final_norm(x.transpose(1, 2)))  # [B, T, 2 * bins], frame-major
        log_magnitude, phase = out[..., : self.bins], out[..., self.bins :]
        if self.magnitude_residual:
            floor = (mel.exp().transpose(1, 2) @ self.mel_inverse.T).clamp_min(_PINV_FLOOR).log()
            log_magnitude = log_magnitude + floor  # [B, T, bins]
        if self.frame_period > 1:
            frames = phase.shape[1]
            repeats = -(-frames // self.frame_period)
            phase = phase + self.phase_rotation.repeat(repeats, 1)[:frames]  # [B, T, bins]
        magnitude = log_magnitude.exp().clamp(max=_MAX_MAGNITUDE)
        dc_free = torch.ones(self.bins, device=mel.device, dtype=magnitude.dtype)
        dc_free[0] = 0.0
        # cos/sin of an unconstrained phase, as Vocos: no wrapping discontinuity to learn around.
        return torch.polar(magnitude * dc_free, phase)

    def _match_rendered_mel(self, frames: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """frames [B, T, bins] complex, rescaled band by band until their rendering's mel reads as
        ``mel`` [B, n_mels, T] (``mel_consistency_iterations`` times). Phases are left alone."""
        for _ in range(self.mel_consistency_iterations):
            rendered = log_mel(self.istft.render_frames(frames), self.mel_config)  # [B, n_mels, T]
            log_ratio = (mel - rendered).clamp(-_MAX_LOG_CORRECTION, _MAX_LOG_CORRECTION)
            frames = frames * (log_ratio.exp().transpose(1, 2) @ self.band_share + self.uncovered)
        return frames

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # mel: [B, n_mels, T] -> [B, 1, T * hop]
        frames = self._frames(mel)
        if self.mel_consistency_iterations and not self.training:
            frames = self._match_rendered_mel(frames, mel)
        wave = self.istft.render_frames(frames)
        if self.training:  # bounded for the losses and discriminators, as it has always trained
            wave = wave.clamp(-1.0, 1.0)
        # Not when rendering: a mel louder than full scale clipped there made one-frame broadband
        # clicks; export turns such a sound down by one gain (distill/generation/export.py).
        return wave.unsqueeze(1)

    def receptive_field_frames(self) -> int:
        # Kernel-7 convs reach 3 frames each (embedding + one per block); the inverse STFT's
        # n_fft-long frames overlap ceil(n_fft / hop / 2) frames on each side of a sample, and each
        # mel-matching pass adds that reach twice (a rendering, then an analysis window over it).
        overlap = math.ceil(self.n_fft / self.hop_length / 2)
        return 3 * (1 + len(self.blocks)) + overlap * (1 + 2 * self.mel_consistency_iterations)

    def inference_module(self) -> VocosGenerator:
        """A frozen copy with each block's layer scale folded into its projection (exact: gamma
        multiplies the output of a linear layer), so rendering skips one multiply per block."""
        frozen = copy.deepcopy(self).eval()
        with torch.no_grad():
            for block in frozen.blocks:
                block.pwconv2.weight.mul_(block.gamma[:, None])
                block.pwconv2.bias.mul_(block.gamma)
                block.gamma.fill_(1.0)
        return frozen.requires_grad_(False)
