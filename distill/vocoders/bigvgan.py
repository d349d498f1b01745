"""The universal BigVGAN-v2 vocoder (NVIDIA's ``bigvgan`` package, optional extra ``distill[bigvgan]``).

BigVGAN-v2 44 kHz / 128-band / 512x consumes exactly distill's mel, so it renders any model's
mels without an adapter. ``BigVGAN.from_pretrained`` breaks with current huggingface_hub, so the
model is rebuilt the way the package's own loader would: config.json -> ``BigVGAN(h)``, then the
generator weights from ``bigvgan_generator.pt`` (a plain tensor dict, loaded with weights_only).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path

import torch

from distill.audio.mel import MelConfig
from distill.errors import UserError
from distill.vocoders.base import Vocoder, chunked_synthesis

HUB_ID = "nvidia/bigvgan_v2_44khz_128band_512x"
FILES = ("config.json", "bigvgan_generator.pt")
INSTALL_HINT = "pip install 'distill[bigvgan]'"


def _give_numba_a_cache() -> None:
    """bigvgan imports librosa, whose numba functions are cached on disk as they are imported: beside
    the package, else under the user's cache folder. With neither writable (an installation the user
    may not write and a home they may not either), the import itself fails with numba's traceback.
    Then numba gets a folder of the user's own in the temporary directory."""
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    try:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home at all
        cache = Path("/nonexistent")
    existing = next((folder for folder in (cache, *cache.parents) if folder.exists()), None)
    if existing is not None and os.access(existing, os.W_OK | os.X_OK):
        return
    folder = Path(tempfile.gettempdir()) / f"distill-numba-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return  # no place at all: numba's own error says why
    os.environ["NUMBA_CACHE_DIR"] = str(folder)


def _require_package():
    _give_numba_a_cache()
    try:
        import bigvgan  # noqa: F401
        from bigvgan.bigvgan import BigVGAN
        from bigvgan.env import AttrDict
    except ImportError as error:
        raise UserError(
            f"The BigVGAN vocoder needs NVIDIA's bigvgan package; install it with {INSTALL_HINT}."
        ) from error
    return BigVGAN, AttrDict


def locate(source: str | Path, *, download: bool, progress: type | None = None) -> Path:
    """The local folder holding config.json + bigvgan_generator.pt for ``source``.

    source: a local folder, or a hub id (default ``nvidia/bigvgan_v2_44khz_128band_512x``) looked
    up in the local hub cache, and downloaded with a progress bar only when ``download`` is true:
    ``progress`` is its tqdm class (default: rich's, in the terminal; the studio passes one that
    moves a widget).
    """
    folder = Path(source).expanduser()
    if folder.is_dir():
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise UserError(
                f"BigVGAN folder {folder} lacks {', '.join(missing)}; it needs {' and '.join(FILES)}."
            )
        return folder
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    from tqdm.rich import tqdm as rich_tqdm

    try:
        paths = [
            hf_hub_download(
                str(source), name, local_files_only=not download, tqdm_class=progress or rich_tqdm
            )
            for name in FILES
        ]
    except LocalEntryNotFoundError as error:
        if download:
            raise UserError(
                f"Could not download BigVGAN '{source}': the hub is unreachable (or HF_HUB_OFFLINE is set)."
            ) from error
        raise UserError(
            f"BigVGAN '{source}' is not available locally; download it once with"
            f" `distill vocoder download {source}` or give a folder holding {' and '.join(FILES)}."
        ) from error
    except Exception as error:  # network, auth or missing-repo errors from the hub
        raise UserError(f"Could not fetch BigVGAN '{source}': {str(error).splitlines()[0]}") from error
    return Path(paths[0]).parent


def is_available(source: str | Path = HUB_ID) -> bool:
    """Whether BigVGAN can be loaded without the network (package installed, weights local)."""
    try:
        _require_package()
        locate(source, download=False)
    except UserError:
        return False
    return True


class BigVGANVocoder(Vocoder):
    """BigVGAN-v2 (Lee et al. 2023, "BigVGAN: A Universal Neural Vocoder with Large-Scale Training"),
    inference only: weight norm removed, eval mode, chunked with overlap for flat memory.

    overlap_frames: context rendered and discarded on each side of a chunk. BigVGAN's receptive
    field is wide (anti-aliased periodic activations at every scale); 32 frames (0.37 s) keeps
    chunk joins below audibility in the tests and costs 25 % extra at 256-frame chunks.
    """

    kind = "bigvgan"
    display_name = "BigVGAN"
    description = f"{display_name}-v2 (universal)"

    def __init__(self, *, folder: Path, chunk_frames: int, overlap_frames: int) -> None:
        BigVGAN, AttrDict = _require_package()
        config = AttrDict(json.loads((folder / "config.json").read_text()))
        expected = MelConfig()
        found = (config.get("num_mels"), config.get("hop_size"), config.get("sampling_rate"))
        wanted = (expected.n_mels, expected.hop_length, expected.sample_rate)
        if found != wanted:
            raise UserError(
                f"BigVGAN in {folder} uses (mels, hop, rate) = {found}, but distill's mel is {wanted};"
                f" use the {HUB_ID} model."
            )
        model = BigVGAN(config, use_cuda_kernel=False)
        state = torch.load(folder / "bigvgan_generator.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state["generator"])
        model.remove_weight_norm()
        self.model = model.eval()
        self.sample_rate = expected.sample_rate
        self.hop_length = expected.hop_length
        self.chunk_frames = chunk_frames
        self.overlap_frames = overlap_frames

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:  # mel: [B, 128, T] -> [B, 1, T * 512]
        if mel.dim() != 3:
            raise ValueError(f"expected mel [B, n_mels, T], got shape {tuple(mel.shape)}")
        with torch.inference_mode():
            return chunked_synthesis(
                self.model,
                mel.float(),
                hop_length=self.hop_length,
                chunk_frames=self.chunk_frames,
                overlap_frames=self.overlap_frames,
            )


@functools.lru_cache(maxsize=4)
def load_bigvgan(
    source: str = HUB_ID, *, download: bool = False, chunk_frames: int = 256, overlap_frames: int = 32
):
    """A cached BigVGANVocoder: loading the 112 M-parameter model once per process is enough."""
    return BigVGANVocoder(
        folder=locate(source, download=download), chunk_frames=chunk_frames, overlap_frames=overlap_frames
    )
