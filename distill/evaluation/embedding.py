"""A pretrained sound-effects embedding: one 512-d vector per clip, from weights installed locally.

The model is the 9-layer CNN of the DCASE cross-task baseline (Kong et al. 2018, arXiv 1808.00773)
trained across sound-effects libraries (UCS and others) by Ma & Lerch, "Representation Learning for
the Automatic Indexing of Sound Effects Libraries", ISMIR 2022 (arXiv 2208.09096): the
X-Sequential-CE model of the ``aisfx`` package, whose wheel carries its checkpoint, so nothing is
downloaded at run time (the reason the frame statistics in ``features`` used no embedding before).
The weights are CC BY 4.0, (c) 2022 A. B. Ma and A. Lerch.

Only the network class and the checkpoint come from ``aisfx``; the front end is ours, in torch,
because aisfx computes it with librosa 0.9.2 (which pins numpy 1.23) and that is no run-time
dependency of distill. It reproduces aisfx's librosa path (``spectrogram_librosa`` +
``preprocessing``; the paper's features came from Essentia, which aisfx says may score a little
higher), laid out [frames, bands] as the model reads it (that path forgets to transpose): audio at
44.1 kHz mono divided by its peak; a power mel spectrogram with librosa 0.9's STFT defaults (n_fft =
window = 2048, hop 1024, periodic Hann, centred frames with zero padding) and 96 HTK-scale bands
from 0 to 22.05 kHz, each filter scaled to unit sum (``norm=1``); compressed as log10(1 + 1e4 S) and
divided by the 9.4578 that aisfx's 'original' min-max normalisation uses; cut into blocks of 100
frames (2.32 s) with a hop of 50, a partial last block dropped and a clip shorter than a block
zero-padded to one (aisfx's ``drop_partial_block=True`` default). aisfx returns one embedding per
block; a clip's embedding here is their mean, so a one-shot and a long recording are each one
vector.
"""

from __future__ import annotations

import codecs
import functools
import importlib.resources
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from distill.audio.io import resample
from distill.errors import UserError

SAMPLE_RATE = 44100
N_FFT = 2048
HOP_LENGTH = 1024
N_MELS = 96
F_MAX = SAMPLE_RATE / 2
COMPRESSION_MAX = 9.457798957824707  # aisfx.preprocessing.spectrogram_normalize, spec_norm="original"
BLOCK_FRAMES = 100
BLOCK_HOP = 50
EMBEDDING_DIM = 512
INSTALL_COMMAND = "pip install --no-deps aisfx==0.1.2"


class EmbeddingModelMissingError(UserError):
    """The aisfx package (the embedding's weights) is not installed."""


def _hz_to_mel_htk(hz: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def _mel_to_hz_htk(mels: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)


@functools.cache
def htk_mel_filterbank() -> torch.Tensor:
    """HTK-scale triangular filters scaled to unit sum, [N_MELS, N_FFT // 2 + 1] float32.

    What ``librosa.filters.mel(htk=True, norm=1)`` returns (checked in the tests): triangles
    between consecutive mel points, then each row divided by its L1 norm. Made outside inference
    mode, since a cached tensor first made inside it could never take part in autograd later.
    """
    with torch.inference_mode(False):
        fft_freqs = torch.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1, dtype=torch.float64)
        mel_max = _hz_to_mel_htk(torch.tensor(F_MAX, dtype=torch.float64)).item()
        hz_points = _mel_to_hz_htk(torch.linspace(0.0, mel_max, N_MELS + 2, dtype=torch.float64))
        fdiff = hz_points[1:] - hz_points[:-1]  # [N_MELS + 1]
        ramps = hz_points[:, None] - fft_freqs[None, :]  # [N_MELS + 2, n_freqs]
        lower = -ramps[:-2] / fdiff[:-1, None]
        upper = ramps[2:] / fdiff[1:, None]
        weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
        # librosa leaves an all-zero row at zero rather than dividing by 0 (none occurs at 96 bands).
        sums = weights.sum(dim=1, keepdim=True)
        return (weights / torch.where(sums > 0, sums, 1.0)).to(torch.float32)


@functools.cache
def _window() -> torch.Tensor:
    with torch.inference_mode(False):
        return torch.hann_window(N_FFT)  # periodic, as scipy's get_window("hann", fftbins=True)


def compressed_mel(audio: torch.Tensor) -> torch.Tensor:
    """The model's input features of peak-normalised 44.1 kHz audio: [T] -> [frames, N_MELS].

    frames = 1 + T // HOP_LENGTH, as librosa's centred STFT gives; the padding is done here rather
    than by ``torch.stft(center=True)`` so that a clip shorter than half a window works too.
    """
    padded = nn.functional.pad(audio[None], (N_FFT // 2, N_FFT // 2))[0]  # zeros, librosa >= 0.9
    spectrum = torch.stft(
        padded, N_FFT, hop_length=HOP_LENGTH, window=_window(), center=False, return_complex=True
    )  # [n_freqs, frames]
    power = spectrum.real.square() + spectrum.imag.square()
    mel = htk_mel_filterbank() @ power  # [N_MELS, frames]
    return (torch.log10(1.0 + 1e4 * mel) / COMPRESSION_MAX).T


def blocks(features: torch.Tensor) -> torch.Tensor:
    """[frames, N_MELS] -> [blocks, BLOCK_FRAMES, N_MELS], as aisfx's ``blocking`` cuts them.

    Full blocks every BLOCK_HOP frames, the partial one at the end dropped; features shorter than
    a block become one block padded with zeros (the compressed value of silence).
    """
    short = BLOCK_FRAMES - features.shape[0]
    if short > 0:
        features = nn.functional.pad(features, (0, 0, 0, short))
    return features.unfold(0, BLOCK_FRAMES, BLOCK_HOP).transpose(1, 2)


def peak_normalised(samples: np.ndarray) -> np.ndarray:
    """The clip divided by its largest absolute sample; silence stays silence (aisfx divides by 1)."""
    peak = float(np.max(np.abs(samples), initial=0.0))
    return samples / peak if peak > 0 else samples


def _embedding_net_class() -> type[nn.Module]:
    try:
        from aisfx.models.cnn2d import EmbeddingNet
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] != "aisfx":
            raise  # aisfx is there but something it imports is not: that traceback says what
        raise EmbeddingModelMissingError(
            f"the sound-effects embedding needs the aisfx package: run `{INSTALL_COMMAND}` (or `make install`)"
        ) from None
    return EmbeddingNet


def _load_state_dict() -> dict[str, torch.Tensor]:
    checkpoint = importlib.resources.files("aisfx.models") / "checkpoint.pth"
    if not checkpoint.is_file():
        raise EmbeddingModelMissingError(
            f"the aisfx package has no models/checkpoint.pth: reinstall it with `{INSTALL_COMMAND}`"
        )
    # The pickle holds (state_dict, ds_dict); ds_dict's numpy int64 scalars, saved under numpy 1's
    # module name, are all it needs beyond tensors. Allow-listing exactly those keeps loading from
    # running arbitrary code (weights_only=True).
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy 1.x, where the pickle's own name is the real one
        from numpy.core.multiarray import scalar

    allowed = [(scalar, "numpy.core.multiarray.scalar"), np.dtype, np.dtypes.Int64DType, codecs.encode]
    with importlib.resources.as_file(checkpoint) as path, torch.serialization.safe_globals(allowed):
        state, _datasets = torch.load(path, map_location="cpu", weights_only=True)
    # Only the shared trunk is kept; the per-library classifier heads (fc.*) are not the embedding.
    prefix = "embedding_net."
    return {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}


class SoundEmbedding:
    """aisfx's X-Sequential-CE sound-effects embedding (Ma & Lerch, ISMIR 2022, arXiv 2208.09096).

    ``embed(clips, sample_rate)`` -> [N, 512]: one vector per clip, the mean of its blocks'
    embeddings. Raises EmbeddingModelMissingError (a UserError) when aisfx is not installed.
    """

    def __init__(self, *, device: str | torch.device = "cpu", batch_blocks: int = 32) -> None:
        embedding_net = _embedding_net_class()
        state = _load_state_dict()
        # Building the net runs its random init: keep that from moving the caller's torch RNG, so
        # measuring never changes what a seeded generation afterwards produces.
        with torch.random.fork_rng(devices=[]):
            net = embedding_net("max", 3, 1, 64)  # aisfx.inference.load_bestModel's arguments
        net.load_state_dict(state)
        self.net = net.to(device).eval().requires_grad_(False)
        self.device = torch.device(device)
        self.batch_blocks = batch_blocks

    def embed(self, clips: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        """Mono clips (1-D float arrays at ``sample_rate``) -> [len(clips), 512] float32."""
        with torch.inference_mode():
            per_clip = [self._blocks_of(clip, sample_rate) for clip in clips]
            if not per_clip:
                return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
            # Blocks of all clips run together (a one-shot is a single block, so batching per clip
            # would leave the convolutions a batch of 1); then each clip's blocks are averaged.
            stacked = torch.cat(per_clip)  # [total_blocks, BLOCK_FRAMES, N_MELS]
            embedded = torch.cat(
                [self.net(batch.to(self.device)).float().cpu() for batch in stacked.split(self.batch_blocks)]
            )  # [total_blocks, EMBEDDING_DIM]
            counts = [len(b) for b in per_clip]
            means = [part.mean(dim=0) for part in embedded.split(counts)]
            return torch.stack(means).numpy()

    @staticmethod
    def _blocks_of(clip: np.ndarray, sample_rate: int) -> torch.Tensor:
        samples = np.asarray(clip, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"a clip to embed is mono, shape [samples], not {samples.shape}")
        samples = peak_normalised(resample(samples, sample_rate, SAMPLE_RATE))
        features = compressed_mel(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)))
        return blocks(features)
