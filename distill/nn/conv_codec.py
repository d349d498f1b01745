"""2-D convolutional encoder and decoder of the RVQ-VAE: the log-mel treated as a 1-channel image.

The encoder maps a mel [B, 128, T] to a latent grid [B, D, 8, T/16] (four stride-2 stages, 16x down
in frequency and time; ``bands_per_row`` < 16 keeps more of the frequency axis, e.g. 16 rows at 8);
the decoder mirrors it back. Both are fully convolutional in time with
zero 'same' padding and no normalisation layer, so encoding a long clip in one piece equals
encoding crops of it wherever the receptive field stays inside the crop (the code grid of a clip
of any length is one continuous grid, docs/DESIGN.md).

Receptive field (the deliberate choice): with the residual blocks' time kernel at 1, all temporal
context comes from the 3x3 stem and the four kernel-4 stride-2 convolutions, which gives exactly
48 frames (~557 ms): a code column sees its own 16 frames plus one column on either side, and a
code column influences 48 output frames (its own plus one column each side). Why this size:
- training crops are short (96 frames = 6 columns); a column whose receptive field crosses the crop
  edge sees zero padding in training but real context on long clips at inference. With 48 frames,
  4 of the 6 columns of a 96-frame crop are "interior" (at 76 frames it would be 2 of 6);
- editing one code column then changes only ~0.56 s of audio, which keeps code-level edits local;
- long-range structure is the prior's job (it sees windows of many columns), not the codec's.
``residual_time_kernel`` > 1 widens it (each residual block adds (k-1) * its stride in frames);
``temporal_span`` / ``receptive_field`` always report the value of the module as built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from distill.audio.mel import MelConfig
from distill.audio.mel_pitch import CODES_F0_MAX, F0_MIN
from distill.nn.pitch_head import PitchHead, PitchPrediction

# Every band of digital silence is log(log_floor) = -11.5129 (tested against silence_frame()).
# Shifting by it makes silence 0 inside the network, so the zero padding of the first and last
# convolutions is silence padding; dividing by half the usable dynamic range (-11.5 .. ~3) keeps
# the activations O(1).
SILENCE_LOG_MEL = math.log(MelConfig().log_floor)
MEL_HALF_RANGE = 7.25
STAGES = 4  # stride-2 stages of the encoder, mirrored by the decoder
# Mel frames per code column and, by default, mel bands per code row (16): the one home of the code
# grid's geometry. A grid has n_mels / bands_per_row frequency rows (8 for the 128-band mel at the
# default 16) and ceil(frames / 16) time columns.
DOWNSAMPLE = 2**STAGES
N_MELS = MelConfig().n_mels  # the decoder's output bands: the fixed distill mel's
TEXTURE_START_LOG_SCALE = math.log(0.5)
TEXTURE_LOG_SCALE_RANGE = (math.log(1e-3), math.log(8.0))  # in log-mel units


def grid_shape(n_mels: int, frames: int, bands_per_row: int = DOWNSAMPLE) -> tuple[int, int]:
    """(rows, columns) of the code grid of a mel [n_mels, frames] (frames padded to whole columns)."""
    return n_mels // bands_per_row, -(-frames // DOWNSAMPLE)


def frequency_strides(bands_per_row: int) -> list[int]:
    """Each stage's stride in frequency: the first log2(bands_per_row) stages halve the bands, the
    rest keep them (the coarsest stages, where a full-height grid costs least)."""
    allowed = [2**halvings for halvings in range(STAGES + 1)]
    if bands_per_row not in allowed:
        raise ValueError(f"bands_per_row must be a power of 2 from 1 to {DOWNSAMPLE}, got {bands_per_row}")
    halvings = allowed.index(bands_per_row)
    return [2] * halvings + [1] * (STAGES - halvings)


def _stage_shape(frequency_stride: int) -> dict[str, tuple[int, int]]:
    # Kernel 4 = 2 x stride where a stage halves an axis (overlapping windows avoid aliasing between
    # the two phases); a 3-tap kernel where it keeps the frequency axis.
    return {
        "kernel_size": (4 if frequency_stride == 2 else 3, 4),
        "stride": (frequency_stride, 2),
        "padding": (1, 1),
    }


def _spectral_refiner(cell_channels: int, width: int) -> nn.Sequential:
    """The decoder's spectral refiner: frame by frame, a 1-D network over time that reads the 2-D
    decoder's mel and the column's latent cells (every row at once) and adds a correction to the
    mel. Its output layer has weights per mel band, so it can place the comb of a pitch's partials,
    which the 2-D convolutions (the same filters at every frequency) cannot. It starts as no change
    (zero output layer): training begins from the 2-D decoder alone."""
    out = nn.Conv1d(width, N_MELS, 1)
    nn.init.zeros_(out.weight)
    nn.init.zeros_(out.bias)
    return nn.Sequential(
        nn.Conv1d(N_MELS + cell_channels, width, 3, padding=1),
        nn.SiLU(),
        nn.Conv1d(width, width, 3, padding=1),
        nn.SiLU(),
        out,
    )


def _check_widths(channels: Sequence[int], residual_time_kernel: int) -> None:
    if len(channels) != STAGES + 1:
        raise ValueError(
            f"channels needs {STAGES + 1} widths (full, 1/2, 1/4, 1/8, 1/16 resolution), got {list(channels)}"
        )
    if residual_time_kernel < 1 or residual_time_kernel % 2 == 0:
        raise ValueError(
            f"residual_time_kernel must be odd and >= 1 for 'same' padding, got {residual_time_kernel}"
        )


class ResBlock2d(nn.Module):
    """Residual block of VQ-VAE (van den Oord et al. 2017, "Neural Discrete Representation Learning"):
    x + conv1x1(act(conv(act(x)))), the inner conv 3 bins wide in frequency, ``time_kernel`` in time.
    No normalisation: a norm over time would break whole-clip vs crop equality.
    """

    def __init__(self, *, channels: int, time_kernel: int) -> None:
        super().__init__()
        # Registration order = data-flow order: temporal_span() walks the convs in this order.
        self.conv = nn.Conv2d(channels, channels, (3, time_kernel), padding=(1, time_kernel // 2))
        self.proj = nn.Conv2d(channels, channels, 1)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, F, T] -> [B, C, F, T]
        return x + self.proj(self.act(self.conv(self.act(x))))


def _conv_time(m: nn.Conv2d | nn.ConvTranspose2d) -> tuple[int, int, int, int]:
    """(kernel, stride, padding, dilation) of a 2-D conv along the time (last) axis."""
    padding = m.padding[1]
    if not isinstance(padding, int):
        raise TypeError(f"span calculation needs integer padding, got {m.padding!r}")
    return m.kernel_size[1], m.stride[1], padding, m.dilation[1]


def _input_span(layers: nn.Sequential) -> tuple[int, int]:
    """Input frames [lo, hi] (inclusive) that output position 0 depends on.

    Walks the convolutions backwards: output o of a conv reads inputs o*s - p .. o*s - p + (k-1)*d.
    Residual identity paths are covered because every 'same' conv contains the centre tap.
    """
    lo, hi = 0, 0
    for m in reversed([m for m in layers.modules() if isinstance(m, nn.Conv2d)]):
        k, s, p, d = _conv_time(m)
        lo, hi = lo * s - p, hi * s - p + (k - 1) * d
    return lo, hi


def _output_span(layers: nn.Sequential) -> tuple[int, int]:
    """Output frames [lo, hi] (inclusive) that input position 0 influences.

    Walks forwards: a stride-1 conv spreads input i to outputs i + p - (k-1)*d .. i + p; a
    transposed conv spreads input i to outputs i*s - p .. i*s - p + (k-1)*d.
    """
    lo, hi = 0, 0
    for m in layers.modules():
        if isinstance(m, nn.ConvTranspose2d):
            k, s, p, d = _conv_time(m)
            lo, hi = lo * s - p, hi * s - p + (k - 1) * d
        elif isinstance(m, nn.Conv2d):
            k, s, p, d = _conv_time(m)
            if s != 1:
                raise ValueError("decoder span assumes stride-1 convs besides the transposed ones")
            lo, hi = lo + p - (k - 1) * d, hi + p
    return lo, hi


class ConvEncoder(nn.Module):
    """Mel [B, 128, T] -> latent grid [B, D, 128 / bands_per_row, T/16].

    A small VQ-VAE encoder (van den Oord et al. 2017, "Neural Discrete Representation Learning")
    in 2-D: 3x3 stem, four (act, 4x4 stride-2 conv, residual blocks) stages, act, 1x1 to D.
    """

    def __init__(
        self,
        *,
        channels: Sequence[int],
        latent_dim: int,
        blocks_per_stage: int,
        residual_time_kernel: int,
        bands_per_row: int = DOWNSAMPLE,  # 16 for RVQ-VAEs trained before it was a setting
        pitch_input: bool = False,  # False for RVQ-VAEs trained before the pitch head existed
    ) -> None:
        """channels: widths at full, 1/2, 1/4, 1/8 and 1/16 resolution (5 ints).
        blocks_per_stage: residual blocks after each downsampling (none at full resolution,
        where they would cost most of the compute). residual_time_kernel: odd time width of the
        residual blocks' inner conv; 1 keeps the receptive field at 48 frames (module docstring).
        bands_per_row: mel bands per code cell (a power of 2 up to 16; the grid has n_mels /
        bands_per_row rows). pitch_input: whether ``forward`` takes the tracked pitch's harmonic
        pattern beside the mel (``distill.nn.pitch_head``), added after the stem.
        """
        super().__init__()
        _check_widths(channels, residual_time_kernel)
        self.latent_dim = latent_dim
        self.bands_per_row = bands_per_row
        act = nn.SiLU
        layers: list[nn.Module] = [nn.Conv2d(1, channels[0], 3, padding=1)]
        self.pitch_in = nn.Conv2d(1, channels[0], 3, padding=1) if pitch_input else None
        strides = frequency_strides(bands_per_row)
        for c_in, c_out, stride in zip(channels[:-1], channels[1:], strides, strict=True):
            layers += [act(), nn.Conv2d(c_in, c_out, **_stage_shape(stride))]
            layers += [
                ResBlock2d(channels=c_out, time_kernel=residual_time_kernel) for _ in range(blocks_per_stage)
            ]
        layers += [act(), nn.Conv2d(channels[-1], latent_dim, 1)]
        self.layers = nn.Sequential(*layers)

    @property
    def temporal_span(self) -> tuple[int, int]:
        """Input frames [16c + lo, 16c + hi] (inclusive) that latent column c depends on."""
        return _input_span(self.layers)

    @property
    def receptive_field(self) -> int:
        """Temporal receptive field of one latent column, in mel frames (48 at residual_time_kernel=1)."""
        lo, hi = self.temporal_span
        return hi - lo + 1

    @property
    def has_pitch(self) -> bool:
        return self.pitch_in is not None

    def forward(self, mel: torch.Tensor, pitch: torch.Tensor | None = None) -> torch.Tensor:
        # mel: [B, n_mels, T] with T a multiple of 16 -> [B, D, n_mels / bands_per_row, T/16];
        # pitch: [B, n_mels, T] the harmonic pattern (``PitchTrack.pattern``), with a pitch input
        if mel.dim() != 3 or mel.shape[1] % self.bands_per_row or mel.shape[2] % DOWNSAMPLE:
            raise ValueError(
                f"encoder needs [B, n_mels, T] with n_mels a multiple of {self.bands_per_row}"
                f" and T of {DOWNSAMPLE}, got {tuple(mel.shape)}"
            )
        x = ((mel - SILENCE_LOG_MEL) / MEL_HALF_RANGE).unsqueeze(1)  # [B, 1, n_mels, T]
        if (pitch is None) != (self.pitch_in is None):
            raise ValueError("the encoder takes a pitch pattern exactly when it has a pitch input")
        if self.pitch_in is None:
            return self.layers(x)
        x = self.layers[0](x) + self.pitch_in(pitch.unsqueeze(1).to(x.dtype))
        return self.layers[1:](x)


@dataclass(frozen=True)
class DecodedMel:
    mean: torch.Tensor  # [B, n_mels, 16C] log-mel: what the codes determine
    log_scale: (
        torch.Tensor | None
    )  # [B, n_mels, 16C] log of the spread around it, None without a texture head
    pitch: PitchPrediction | None = None  # each frame's pitch, with a pitch head


class ConvDecoder(nn.Module):
    """Latent grid [B, D, R, C] -> mel [B, bands_per_row x R, 16C]; the mirror of ``ConvEncoder``
    (van den Oord et al. 2017, "Neural Discrete Representation Learning"): 1x1 from D, four
    (residual blocks, act, 4x4 stride-2 transposed conv) stages, act, 3x3 to one channel.

    With ``texture_head`` a second 3x3 output predicts, bin by bin, how far a real mel spreads
    around that mean (the log of a Gaussian's scale): the grain of a snare, the shimmer of a
    cymbal, the fine structure between partials, which a code cell of 16 bands x 16 frames cannot
    pin down and a decoder trained on a distance can only average. It reads the decoder's last
    features detached, so it learns the spread without changing the mean.

    With ``refiner_channels`` a spectral refiner (``_spectral_refiner``) corrects the mean frame by
    frame from the whole column: it brings back pitch harmonics the 2-D path averages away. Its two
    3-frame convolutions widen the decoder's temporal span by 2 frames on each side (52 frames).
    """

    def __init__(
        self,
        *,
        channels: Sequence[int],
        latent_dim: int,
        blocks_per_stage: int,
        residual_time_kernel: int,
        texture_head: bool = False,  # False for RVQ-VAEs trained before the head existed
        bands_per_row: int = DOWNSAMPLE,
        refiner_channels: int = 0,  # 0 (no refiner) for RVQ-VAEs trained before it existed
        pitch_head_channels: int = 0,  # 0 (no pitch head) for RVQ-VAEs trained before it existed
        pitch_f0_max: float = CODES_F0_MAX,  # also what RVQ-VAEs trained before the option decode
    ) -> None:
        """Same arguments as ``ConvEncoder``; channels are listed from full resolution up, like there.
        refiner_channels: width of the spectral refiner (class docstring); 0 = none.
        pitch_head_channels: width of the pitch head (``distill.nn.pitch_head``); 0 = none.
        pitch_f0_max: the highest pitch tracked and decoded, in Hz (the RVQ-VAE tracks with it too)."""
        super().__init__()
        _check_widths(channels, residual_time_kernel)
        self.latent_dim = latent_dim
        self.bands_per_row = bands_per_row
        self.pitch_f0_max = float(pitch_f0_max)
        act = nn.SiLU
        rev = list(channels)[::-1]  # 1/16 resolution first
        strides = frequency_strides(bands_per_row)[::-1]
        layers: list[nn.Module] = [nn.Conv2d(latent_dim, rev[0], 1)]
        for c_in, c_out, stride in zip(rev[:-1], rev[1:], strides, strict=True):
            layers += [
                ResBlock2d(channels=c_in, time_kernel=residual_time_kernel) for _ in range(blocks_per_stage)
            ]
            # Kernel 4, stride 2, padding 1 doubles the length exactly and overlaps evenly (no checkerboard).
            layers += [act(), nn.ConvTranspose2d(c_in, c_out, **_stage_shape(stride))]
        layers += [act(), nn.Conv2d(rev[-1], 1, 3, padding=1)]
        self.layers = nn.Sequential(*layers)
        self.texture = nn.Conv2d(rev[-1], 1, 3, padding=1) if texture_head else None
        rows = N_MELS // bands_per_row
        self.refiner = _spectral_refiner(rows * latent_dim, refiner_channels) if refiner_channels else None
        self.pitch = None
        if pitch_head_channels:
            self.pitch = PitchHead(
                cell_channels=rows * latent_dim,
                width=pitch_head_channels,
                frames_per_column=DOWNSAMPLE,
                f0_max=pitch_f0_max,
            )
            # The predicted harmonic pattern joins the features before the last activation.
            self.pitch_in = nn.Conv2d(1, rev[-1], 3, padding=1)

    @property
    def has_texture(self) -> bool:
        return self.texture is not None

    @property
    def has_pitch(self) -> bool:
        return self.pitch is not None

    @property
    def pitch_range(self) -> tuple[float, float] | None:
        """The lowest and highest f0, in Hz, that the pitch head decodes (and ``decode`` renders);
        None without a pitch head."""
        return None if self.pitch is None else (F0_MIN, self.pitch_f0_max)

    @property
    def temporal_span(self) -> tuple[int, int]:
        """Output frames [16c + lo, 16c + hi] (inclusive) that latent column c influences."""
        lo, hi = _output_span(self.layers)
        if self.pitch is not None:  # then pitch_in and the output conv, 3 frames each
            pitch_lo, pitch_hi = self.pitch.temporal_span
            lo, hi = min(lo, pitch_lo - 2), max(hi, pitch_hi + 2)
        if self.refiner is not None:  # its 'same' convolutions spread each frame further
            reach = sum(m.kernel_size[0] // 2 for m in self.refiner if isinstance(m, nn.Conv1d))
            lo, hi = lo - reach, hi + reach
        return lo, hi

    @property
    def receptive_field(self) -> int:
        """Output frames one latent column influences (48 at residual_time_kernel=1); equivalently an
        output frame depends on the receptive_field / 16 latent columns whose span covers it."""
        lo, hi = self.temporal_span
        return hi - lo + 1

    @property
    def last_layer(self) -> nn.Parameter:
        """The weight of the output convolution: where an adversarial loss is balanced against the
        reconstruction (VQGAN's adaptive weight)."""
        return self.layers[-1].weight

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        # latent: [B, D, R, C] -> mel [B, n_mels, 16C]
        return self.decode(latent).mean

    def decode(
        self, latent: torch.Tensor, *, pitch_temperature: float = 1.0, pitch_hz: float | None = None
    ) -> DecodedMel:
        """The mel's mean and, with the texture head, its per-bin log scale: [B, D, R, C] -> [B, n_mels, 16C] each.
        pitch_temperature: of the pitch head's distribution whose harmonic pattern the last layers
        read (``PitchPrediction.pattern``); 1 is how they are trained. pitch_hz: the last layers read
        that one pitch's pattern instead (``PitchPrediction.pattern_at``), within ``pitch_range``."""
        pitch = None
        if self.pitch is None:
            if pitch_hz is not None:
                raise ValueError("pitch_hz needs a decoder with a pitch head")
            features = self.layers[:-1](latent)  # [B, C0, n_mels, 16C]
        else:
            pitch = self.pitch(latent)
            if pitch_hz is None:
                pattern = pitch.pattern(pitch_temperature).unsqueeze(1)  # [B, 1, n_mels, 16C]
            elif self.pitch_range[0] <= pitch_hz <= self.pitch_range[1]:
                pattern = pitch.pattern_at(pitch_hz).unsqueeze(1)
            else:
                raise ValueError(f"pitch_hz {pitch_hz} is outside the pitch head's {self.pitch_range} Hz")
            features = self.layers[-2](self.layers[:-2](latent) + self.pitch_in(pattern.to(latent.dtype)))
        inside = self.layers[-1](features).squeeze(1)  # the log-mel with silence at 0
        if self.refiner is not None:
            b, d, rows, columns = latent.shape
            cells = latent.transpose(1, 2).reshape(b, rows * d, columns).repeat_interleave(DOWNSAMPLE, dim=-1)
            inside = inside + self.refiner(torch.cat([inside, cells], dim=1))
        mean = inside * MEL_HALF_RANGE + SILENCE_LOG_MEL
        if self.texture is None:
            return DecodedMel(mean=mean, log_scale=None, pitch=pitch)
        # Log-mel units; starts near a scale of 0.5 (the spread measured around L1 decoders' means)
        # and is clamped so a collapsing or exploding scale cannot make the loss non-finite.
        raw = self.texture(features.detach()).squeeze(1) + TEXTURE_START_LOG_SCALE
        return DecodedMel(mean=mean, log_scale=raw.clamp(*TEXTURE_LOG_SCALE_RANGE), pitch=pitch)
