"""HiFi-GAN generator: log-mel frames -> 44.1 kHz waveform.

Written from the paper (the official code no longer runs on current torch): transposed
convolutions upsample the mel by the hop length, each followed by a multi-receptive-field
fusion (MRF) block that averages residual blocks of different kernel sizes and dilations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

# The reference implementation initialises every upsampling / residual / output conv with
# N(0, 0.01): small weights keep the residual stacks near identity at the start of training.
_INIT_STD = 0.01
# The reference implementation uses torch's default slope (0.01) for the activation right
# before the output conv; we keep it so published training recipes transfer unchanged.
_POST_SLOPE = 0.01


def _init_conv(conv: nn.Module) -> None:
    nn.init.normal_(conv.weight, mean=0.0, std=_INIT_STD)


def _same_padding(kernel_size: int, dilation: int) -> int:
    return dilation * (kernel_size - 1) // 2


class ResBlock1(nn.Module):
    """HiFi-GAN residual block "type 1" (Kong et al. 2020, Fig. 1 / Appendix A).

    For each dilation d: x <- x + conv_1(lrelu(conv_d(lrelu(x)))); both convs keep length.
    """

    def __init__(self, *, channels: int, kernel_size: int, dilations: Sequence[int], leaky_relu_slope: float):
        super().__init__()
        self.slope = leaky_relu_slope
        self.kernel_size = kernel_size
        self.dilations = tuple(dilations)
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d))
            for d in self.dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=1, padding=_same_padding(kernel_size, 1))
            for _ in self.dilations
        )
        for conv in [*self.convs1, *self.convs2]:
            _init_conv(conv)

    def receptive_half_width(self) -> int:
        """Samples of context on each side at this block's resolution."""
        return sum(
            _same_padding(self.kernel_size, d) + _same_padding(self.kernel_size, 1) for d in self.dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, C, T] -> [B, C, T]
        # In-place activations/adds where the overwritten tensor is a conv output that autograd does
        # not keep (conv backward needs only its input): fewer temporaries means less memory traffic
        # on the long, narrow late-stage tensors, where CPU inference spends its time.
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            xt = c1(nn.functional.leaky_relu(x, self.slope))  # not in place: x is the residual
            xt = c2(nn.functional.leaky_relu(xt, self.slope, inplace=True))
            x = xt.add_(x)
        return x


class HifiGanGenerator(nn.Module):
    """HiFi-GAN generator (Kong, Kim & Bae 2020, "HiFi-GAN: Generative Adversarial Networks for
    Efficient and High Fidelity Speech Synthesis", NeurIPS; arXiv:2010.05646).

    mel [B, in_channels, T] -> wave [B, 1, T * prod(upsample_rates)] in [-1, 1] (tanh).
    Stage i halves the channels and upsamples by ``upsample_rates[i]``; its MRF block averages one
    ``ResBlock1`` per entry of ``resblock_kernel_sizes`` (with the matching dilation list).
    V2 for our 512x mel: upsample_initial_channel=128, upsample_rates=[8, 8, 4, 2],
    upsample_kernel_sizes=[16, 16, 8, 4], resblock_kernel_sizes=[3, 7, 11],
    resblock_dilations=[[1, 3, 5]] * 3, leaky_relu_slope=0.1: 971,041 parameters once weight norm
    is removed (the paper's 0.92 M is for 80 mel bands; we take 128).

    Built with weight norm on every conv (as in the paper, for stable GAN training); call
    ``remove_weight_norm()`` once for inference, which folds it into plain weights.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        upsample_initial_channel: int,
        upsample_rates: Sequence[int],
        upsample_kernel_sizes: Sequence[int],
        resblock_kernel_sizes: Sequence[int],
        resblock_dilations: Sequence[Sequence[int]],
        leaky_relu_slope: float,
    ):
        super().__init__()
        if len(upsample_rates) != len(upsample_kernel_sizes):
            raise ValueError("upsample_rates and upsample_kernel_sizes must have the same length")
        if len(resblock_kernel_sizes) != len(resblock_dilations):
            raise ValueError("resblock_kernel_sizes and resblock_dilations must have the same length")
        for k, u in zip(upsample_kernel_sizes, upsample_rates, strict=True):
            # (k - u) even makes the transposed conv output exactly T * u samples.
            if k < u or (k - u) % 2:
                raise ValueError(f"upsample kernel {k} must be >= rate {u} with (kernel - rate) even")
        if upsample_initial_channel % 2 ** len(upsample_rates):
            raise ValueError("upsample_initial_channel must be divisible by 2 ** number of upsample layers")
        self.upsample_rates = tuple(upsample_rates)
        self.upsample_kernel_sizes = tuple(upsample_kernel_sizes)
        self.hop_length = math.prod(self.upsample_rates)
        self.slope = leaky_relu_slope
        self.num_kernels = len(resblock_kernel_sizes)

        self.conv_pre = nn.Conv1d(in_channels, upsample_initial_channel, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for u, k in zip(self.upsample_rates, self.upsample_kernel_sizes, strict=True):
            up = nn.ConvTranspose1d(ch, ch // 2, k, stride=u, padding=(k - u) // 2)
            _init_conv(up)
            self.ups.append(up)
            ch //= 2
            for rk, rd in zip(resblock_kernel_sizes, resblock_dilations, strict=True):
                self.resblocks.append(
                    ResBlock1(channels=ch, kernel_size=rk, dilations=rd, leaky_relu_slope=leaky_relu_slope)
                )
        self.conv_post = nn.Conv1d(ch, 1, 7, padding=3)
        _init_conv(self.conv_post)
        for conv in self._convs():
            weight_norm(conv)

    def _convs(self) -> list[nn.Module]:
        return [m for m in self.modules() if isinstance(m, nn.Conv1d | nn.ConvTranspose1d)]

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # mel: [B, in_channels, T]
        x = self.conv_pre(mel)  # [B, C0, T]
        for i, up in enumerate(self.ups):
            x = up(
                nn.functional.leaky_relu(x, self.slope, inplace=True)
            )  # [B, C0 / 2^(i+1), T * prod(rates[:i+1])]
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            # MRF: average (not sum) so the output scale does not grow with the number of kernels.
            mrf = blocks[0](x)
            for block in blocks[1:]:
                mrf.add_(block(x))
            x = mrf.mul_(1.0 / self.num_kernels)
        x = self.conv_post(nn.functional.leaky_relu(x, _POST_SLOPE, inplace=True))  # [B, 1, T * hop]
        return torch.tanh(x)

    def remove_weight_norm(self) -> None:
        """Fold weight norm into plain weights (outputs unchanged, inference faster); idempotent."""
        for conv in self._convs():
            if parametrize.is_parametrized(conv, "weight"):
                parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)

    def receptive_field_frames(self) -> int:
        """Mel frames of context on each side that can influence an output sample (upper bound).

        Walks the layers, converting each one's one-sided reach (in samples at its own
        resolution) into input frames. Chunked inference needs at least this much overlap for
        the chunk interiors to equal one-shot output.
        """
        reach = 3.0  # conv_pre: kernel 7 at frame resolution
        resolution = 1  # samples per mel frame at the current layer's input
        for i, (u, k) in enumerate(zip(self.upsample_rates, self.upsample_kernel_sizes, strict=True)):
            # An output sample of a transposed conv sees at most ceil(k / u) inputs on either side.
            reach += math.ceil(k / u) / resolution
            resolution *= u
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            reach += max(block.receptive_half_width() for block in blocks) / resolution
        reach += 3 / resolution  # conv_post: kernel 7
        return math.ceil(reach)
