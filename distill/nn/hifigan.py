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

from distill.nn.mel_generator import MelGenerator

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


class HifiGanGenerator(MelGenerator):
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
    ``remove_weight_norm()`` once for inference, which folds it into plain weights. This forward
    is the training (and reference) path; ``FrozenHifiGan`` renders the same function faster.
    """

    kind = "hifigan"
    display_name = "HiFi-GAN V2"

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

    def inference_module(self) -> FrozenHifiGan:
        return FrozenHifiGan(generator=self)


def _as_image_conv(conv: nn.Conv1d | nn.ConvTranspose1d, *, scale: float) -> nn.Conv2d | nn.ConvTranspose2d:
    """The same (transposed) convolution as a [1 x k] 2-D one over [B, C, 1, T] images, holding a
    frozen copy of ``scale`` * the effective weight (read through weight norm if it is still on)."""
    kind = nn.ConvTranspose2d if isinstance(conv, nn.ConvTranspose1d) else nn.Conv2d
    out = kind(
        conv.in_channels,
        conv.out_channels,
        (1, conv.kernel_size[0]),
        stride=(1, conv.stride[0]),
        padding=(0, conv.padding[0]),
        dilation=(1, conv.dilation[0]),
    )
    with torch.no_grad():
        weight = (conv.weight * scale).unsqueeze(2)  # [C_out, C_in, 1, k] ([C_in, C_out, 1, k] transposed)
        out.weight = nn.Parameter(weight.contiguous(memory_format=torch.channels_last), requires_grad=False)
        out.bias = nn.Parameter(conv.bias.detach().clone(), requires_grad=False)
    return out


class FrozenHifiGan(nn.Module):
    """Inference-only snapshot of a trained ``HifiGanGenerator`` (Kong et al. 2020, arXiv:2010.05646):
    the same function, laid out for fast CPU convolution. mel [B, in_channels, T] -> wave [B, 1, T * hop].

    Why a second forward: the training forward keeps [B, C, T] tensors, and oneDNN's convolutions
    on that layout run the narrow late stages (8-32 channels over 10^5-10^6 samples, where nearly
    all of the time goes) at a fraction of the core's throughput, and reorder every layer's input
    and output. Here every tensor is a channels-last [B, C, 1, T] image (memory time-major,
    channels innermost), the layout oneDNN's direct-convolution kernels work in, so nothing is
    reordered between layers; each conv becomes the equivalent [1 x k] 2-D conv. On 2 cores this
    renders ~1.7x faster than ``HifiGanGenerator.forward`` (experiments/bench_vocoder.py).
    Two cheaper passes as well: the MRF's three residual blocks share one lrelu(x), and the MRF's
    1 / num_kernels is folded into the next layer's weights (leaky ReLU is positively homogeneous:
    lrelu(s / K) = lrelu(s) / K).
    Equal to ``generator.eval()(mel)`` up to float rounding (tested). Weight norm, if still on, is
    read through; the generator is not modified, and later changes to it are not seen.
    """

    def __init__(self, *, generator: HifiGanGenerator):
        super().__init__()
        k = generator.num_kernels
        self.slope = generator.slope
        self.num_kernels = k
        self.conv_pre = _as_image_conv(generator.conv_pre, scale=1.0)
        # Stage i > 0 consumes the previous MRF's *sum*; its upsampling divides by K instead.
        self.ups = nn.ModuleList(
            _as_image_conv(up, scale=1.0 if i == 0 else 1.0 / k) for i, up in enumerate(generator.ups)
        )
        # resblocks[b][j] = (convs1[j], convs2[j]) of residual block b, as in the generator.
        self.resblocks = nn.ModuleList(
            nn.ModuleList(
                nn.ModuleList([_as_image_conv(c1, scale=1.0), _as_image_conv(c2, scale=1.0)])
                for c1, c2 in zip(block.convs1, block.convs2, strict=True)
            )
            for block in generator.resblocks
        )
        self.conv_post = _as_image_conv(generator.conv_post, scale=1.0 / k)
        self.eval()

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # mel: [B, in_channels, T]
        lrelu, slope = nn.functional.leaky_relu, self.slope
        batch = mel.shape[0]
        x = self.conv_pre(mel.unsqueeze(2).contiguous(memory_format=torch.channels_last))  # [B, C0, 1, T]
        for i, up in enumerate(self.ups):
            x = up(lrelu(x, slope, inplace=True))  # [B, C0 / 2^(i+1), 1, T * prod(rates[:i+1])]
            x_act = lrelu(x, slope)  # every block's first conv reads lrelu(x); x stays the residual
            mrf = None
            for block in self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]:
                y = x
                for j, (c1, c2) in enumerate(block):
                    t = c2(lrelu(c1(x_act if j == 0 else lrelu(y, slope)), slope, inplace=True))
                    y = t.add_(y)  # t is a fresh conv output; y (maybe x) must stay intact
                mrf = y if mrf is None else mrf.add_(y)  # the sum; 1 / K lives in the next weights
            x = mrf
        x = self.conv_post(lrelu(x, _POST_SLOPE, inplace=True))  # [B, 1, 1, T * hop]
        # One channel: channels-last [B, 1, 1, N] has the same memory as [B, 1, N].
        return torch.tanh_(x).view(batch, 1, -1)
