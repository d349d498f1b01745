"""``DistillModel``: a ``.distillgan`` file rebuilt into its modules, without Lightning, and the
one home of audio <-> code grid <-> audio for a model (``encode``, ``decode``, ``render``) and of
new sounds (``generate``; ``remake`` makes a recorded one again).

The modules are built by ``distill.bundle.build`` (which never runs code a file brings).
Metadata keys read here (written by ``distill.bundle.package``): ``name``, ``id``, ``vqvae_digest``
(``distill.weights.state_dict_digest`` of the VQ-VAE) and ``training.prior.vqvae_digest`` (the
VQ-VAE the prior was trained on); a prior whose digest is not its VQ-VAE's is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from distill.audio.control_space import ControlSpace
from distill.audio.envelope import CollectionShape
from distill.audio.io import UnusableAudioError, load_audio
from distill.audio.level import not_sound, remove_dc
from distill.audio.mel import MelConfig
from distill.bundle import locate_model
from distill.bundle.build import build_component, mel_config_of, parse_config, prior_vqvae_digest
from distill.bundle.errors import InconsistentModelFileError
from distill.bundle.format import (
    COMPONENTS,
    ComponentPayload,
    content_digest,
    read_model_file,
    write_model_file,
)
from distill.codes.convert import decode_windowed, encode_windowed
from distill.codes.grid import CodeGrid
from distill.errors import UserError
from distill.files import FileSystemError, file_exists
from distill.generation.export import Audio
from distill.generation.params import GenerationParams
from distill.generation.pipeline import Generation, run_generation
from distill.generation.remake import RecordedSound, model_file_record, read_recorded
from distill.nn.mel_generator import MelGenerator
from distill.nn.prior import TokenPrior
from distill.nn.vqvae import RVQVAE, texture_start
from distill.vocoders.base import Vocoder
from distill.vocoders.bigvgan import HUB_ID
from distill.vocoders.choice import VocoderChoice
from distill.vocoders.generator import GeneratorVocoder
from distill.vocoders.quality import VocoderQuality
from distill.vocoders.selection import VocoderSelection, select_vocoder
from distill.weights import state_dict_digest

# Frames per chunk of the bundled vocoder (about 12 s): bounds memory only (tens of MB); the chunks
# overlap by the generator's receptive field, so the audio equals one-shot rendering at any chunk
# size. Vocos on 2 cores, 10 s: 98x real time at 256-frame chunks, 119x at 512, 137x at 1024 (the
# 2 x 29 frames of overlap cost 23 % at 256).
VOCODER_CHUNK_FRAMES = 1024


# --- the model ------------------------------------------------------------------------------------


class DistillModel:
    """A trained model: RVQ-VAE (always), transformer prior and its own vocoder (each optional).

    Modules are in eval mode on ``device``. A model without a prior is valid: it encodes, edits
    and decodes code grids; only generating from nothing needs a prior.
    """

    def __init__(
        self,
        *,
        metadata: Mapping[str, Any],
        configs: Mapping[str, str],
        vqvae: RVQVAE,
        prior: TokenPrior | None,
        vocoder_generator: MelGenerator | None,
        mel_config: MelConfig,
        path: Path | None = None,
        content_sha256: str | None = None,
    ) -> None:
        self.metadata = dict(metadata)
        self.vqvae = vqvae.eval()
        self.prior = prior.eval() if prior is not None else None
        self.vocoder_generator = vocoder_generator.eval() if vocoder_generator is not None else None
        self.mel_config = mel_config
        self.path = path  # the file it was loaded from, if any
        # The digest of that file's weights and configs (``content_digest``), as loaded: what the
        # sounds it makes record, so that ``remake`` can tell the model that made one.
        self.content_sha256 = content_sha256
        self.components = tuple(name for name in COMPONENTS if self._modules().get(name) is not None)
        missing = sorted(set(self.components) - set(configs))
        if missing:
            raise ValueError(f"no config given for the {missing[0]} component")
        self._configs = {name: configs[name] for name in self.components}
        self._own_vocoder: GeneratorVocoder | None = None
        self._vqvae_digest: str | None = None
        self._selections: dict[tuple[str, str], VocoderSelection] = {}
        self._file_record: dict[str, str] | None = None

    @property
    def name(self) -> str:
        """The metadata name, else the file's stem (a file made outside packaging may have none)."""
        name = self.metadata.get("name")
        if isinstance(name, str) and name:
            return name
        return self.path.stem if self.path is not None else "model"

    @property
    def id(self) -> str | None:
        return self.metadata.get("id")

    def __repr__(self) -> str:
        return f"DistillModel(name={self.name!r}, id={self.id!r}, components={self.components})"

    def _modules(self) -> dict[str, nn.Module | None]:
        return {"vqvae": self.vqvae, "prior": self.prior, "vocoder": self.vocoder_generator}

    @classmethod
    def load(
        cls,
        path_or_name: str | Path,
        *,
        device: str | torch.device = "cpu",
        library: str | Path | None = None,
    ) -> DistillModel:
        """Load a model file (a path) or a library model (a name or id; see ``locate_model``).

        Raises a ``ModelFileError`` subclass with one sentence for any file that is not a sound,
        safe distill model, and a ``LibraryError`` for a name the library does not know.
        """
        path = locate_model(path_or_name, library=library)
        contents = read_model_file(path)
        configs = {
            name: parse_config(path, name, payload.config_yaml)
            for name, payload in contents.components.items()
        }
        mel_config = mel_config_of(path, "vqvae", configs["vqvae"])  # checked before anything is built
        built = {
            name: build_component(path, name, configs[name], payload.state_dict)
            for name, payload in contents.components.items()
        }
        metadata = contents.metadata
        digest = state_dict_digest(contents.components["vqvae"].state_dict)
        recorded = metadata.get("vqvae_digest")
        if recorded is not None and recorded != digest:
            raise InconsistentModelFileError(path, "its VQ-VAE weights are not the ones its metadata names")
        if "prior" in built:
            trained_on = prior_vqvae_digest(metadata)
            if trained_on is None:
                raise InconsistentModelFileError(
                    path, "it does not record which VQ-VAE its prior was trained on"
                )
            if trained_on != digest:
                raise InconsistentModelFileError(
                    path, "its prior was trained on the codes of another VQ-VAE than the one it holds"
                )
        return cls(
            metadata=metadata,
            configs={name: payload.config_yaml for name, payload in contents.components.items()},
            vqvae=built["vqvae"].to(device),
            prior=built["prior"].to(device) if "prior" in built else None,
            vocoder_generator=built["vocoder"].to(device) if "vocoder" in built else None,
            mel_config=mel_config,
            path=path,
            content_sha256=content_digest(contents.manifest),
        )

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path`` atomically (the old file, if any, stays whole until the rename).

        The weights are the modules' current ones; ``vqvae_digest`` is recomputed from them.
        """
        path = Path(path).expanduser()
        digest = state_dict_digest(self.vqvae.state_dict())
        if self.prior is not None and prior_vqvae_digest(self.metadata) != digest:
            raise ValueError(
                "cannot save: the VQ-VAE's weights are not those the prior was trained on, "
                "so the file would not load"
            )
        modules = self._modules()
        payloads = {
            name: ComponentPayload(state_dict=modules[name].state_dict(), config_yaml=self._configs[name])
            for name in self.components
        }
        write_model_file(path, payloads, {**self.metadata, "vqvae_digest": digest})
        return path

    @property
    def sounds(self) -> CollectionShape | None:
        """The collection's lengths and decay, recorded when the prior trained (one-shot generation
        and the default mode read it); None for a model packaged without one."""
        return CollectionShape.from_dict(self.metadata.get("sounds"))

    @property
    def controls(self) -> ControlSpace | None:
        """The controls the prior was trained with and the collection's range of each (what a
        request's 0..1 means); None for a model whose prior has none."""
        if self.prior is None or not self.prior.controls:
            return None
        return ControlSpace.from_dict(self.metadata.get("controls"))

    def vocoder_quality(self, kind: str = "own") -> VocoderQuality | None:
        """The held-out quality recorded for the model's own vocoder (``own``) or for BigVGAN
        (``bigvgan``, measured on the same files at packaging when it was installed)."""
        info = self.metadata.get("vocoder")
        if not isinstance(info, Mapping):
            return None
        return VocoderQuality.from_dict(info.get("quality") if kind == "own" else info.get(f"{kind}_quality"))

    def select_vocoder(
        self, choice: VocoderChoice | str = "auto", *, bigvgan_source: str | Path = HUB_ID
    ) -> VocoderSelection:
        """The vocoder that renders this model's mels, with why (see ``select_vocoder``); once per choice."""
        key = (str(choice), str(bigvgan_source))
        if key not in self._selections:
            if self._own_vocoder is None and self.vocoder_generator is not None:
                self._own_vocoder = GeneratorVocoder(
                    self.vocoder_generator,
                    sample_rate=self.mel_config.sample_rate,
                    chunk_frames=VOCODER_CHUNK_FRAMES,
                    description=f"{self.vocoder_generator.display_name} (the model's own)",
                )
            self._selections[key] = select_vocoder(
                choice,
                own=self._own_vocoder,
                own_quality=self.vocoder_quality("own"),
                bigvgan_quality=self.vocoder_quality("bigvgan"),
                bigvgan_source=bigvgan_source,
            )
        return self._selections[key]

    def vocoder(
        self, choice: VocoderChoice | str = "auto", *, bigvgan_source: str | Path = HUB_ID
    ) -> Vocoder:
        """The selected vocoder itself (``select_vocoder(...).vocoder``)."""
        return self.select_vocoder(choice, bigvgan_source=bigvgan_source).vocoder

    # --- audio <-> code grids ------------------------------------------------------------------------

    @property
    def vqvae_digest(self) -> str:
        """The VQ-VAE's weight digest: what a code grid's codes mean is tied to it."""
        if self._vqvae_digest is None:
            self._vqvae_digest = state_dict_digest(self.vqvae.state_dict())
        return self._vqvae_digest

    def grid(self, codes: torch.Tensor, n_frames: int | None = None) -> CodeGrid:
        """``codes`` [Q, R, C] as a grid of this model (``n_frames`` None: every column whole)."""
        per_column = self.vqvae.frames_per_column
        return CodeGrid(
            codes=codes.detach().cpu(),
            n_frames=per_column * codes.shape[-1] if n_frames is None else n_frames,
            frames_per_column=per_column,
            sample_rate=self.mel_config.sample_rate,
            hop_length=self.mel_config.hop_length,
            vqvae_digest=self.vqvae_digest,
            mel_fingerprint=self.mel_config.fingerprint(),
        )

    def encode(self, audio: str | Path | np.ndarray | torch.Tensor) -> CodeGrid:
        """A sound file (any format distill reads; mixed to mono, resampled) or mono samples at the
        model's rate, as a code grid. Any length: memory is one encoding window's."""
        if isinstance(audio, str | Path):
            path = Path(audio).expanduser()
            if not file_exists(path):
                raise UserError(f"{path}: no such sound file; check the path.")
            try:
                audio = load_audio(path, sample_rate=self.mel_config.sample_rate).samples
            except UnusableAudioError as error:
                cause = error.__cause__
                if isinstance(cause, OSError) and cause.errno is not None:  # refused, not bad audio
                    raise FileSystemError(path, cause, action="read") from None
                raise UserError(
                    f"{path} cannot be encoded: {error.reason}; give another sound file."
                ) from None
        samples = torch.as_tensor(
            np.asarray(audio, dtype=np.float32) if isinstance(audio, np.ndarray) else audio
        )
        if samples.dim() != 1 or samples.numel() == 0:
            raise UserError(f"encode takes mono samples [N > 0], got shape {tuple(samples.shape)}.")
        device = next(self.vqvae.parameters()).device
        codes, n_frames = encode_windowed(self.vqvae, samples.to(device), self.mel_config)
        return self.grid(codes, n_frames)

    def decode(
        self,
        grid: CodeGrid,
        *,
        window_columns: int = GenerationParams.decode_window_columns,
        overlap: float = GenerationParams.overlap,
        texture_seed: int = 0,
        pitch_hz: float | None = None,
    ) -> torch.Tensor:
        """The log-mel [n_mels, grid.n_frames] a grid of this model describes, decoded in windows.
        texture_seed: which draw of the detail the codes leave open (``RVQVAE.decode``); a generated
        sound uses its own seed, so two sounds do not share their grain. pitch_hz: the note its
        pitched frames sound (``RVQVAE.decode``: with a pitch head, within its range)."""
        grid.check_model(self.vqvae_digest, self.name)
        device = next(self.vqvae.parameters()).device
        return decode_windowed(
            self.vqvae,
            grid.codes.to(device),
            n_frames=grid.n_frames,
            window_columns=window_columns,
            overlap=overlap,
            start_frame=texture_start(texture_seed),
            pitch_hz=pitch_hz,
        )

    def vocode(self, mel: torch.Tensor, vocoder: VocoderChoice | str = "auto") -> Audio:
        """Audio of a log-mel [n_mels, T] (T x hop samples, DC removed). A vocoder that makes no
        sound from it is not an error: the audio comes back with a warning in its metadata."""
        selection = self.select_vocoder(vocoder)
        with torch.inference_mode():
            rendered = selection.vocoder(mel[None])[0, 0].float().cpu().numpy()
        problem = not_sound(rendered)
        warnings = []
        if problem is not None:
            warnings.append(
                f"the rendered audio is {problem}: {selection.vocoder.description} made no sound from this"
                " mel; check the model's vocoder quality (distill models info) or try --vocoder bigvgan."
            )
        metadata = {
            "model": {"id": self.id, "name": self.name},
            "vocoder_used": {"kind": selection.vocoder.kind, "why": selection.reason},
            "warnings": warnings,
        }
        samples = remove_dc(rendered, self.mel_config.sample_rate)
        return Audio(samples=samples, sample_rate=self.mel_config.sample_rate, metadata=metadata)

    def render(self, grid: CodeGrid, *, vocoder: VocoderChoice | str = "auto") -> Audio:
        """What a grid sounds like: ``vocode(decode(grid))``, ``grid.seconds`` long."""
        return self.vocode(self.decode(grid), vocoder)

    # --- new sounds ----------------------------------------------------------------------------------

    def generate(
        self,
        params: GenerationParams | None = None,
        *,
        on_stage: Callable[[str], None] | None = None,
        **settings: Any,
    ) -> Generation:
        """A new sound (``distill.generation.pipeline.run_generation``): ``params`` (default: the
        CLI's defaults) with ``settings`` replaced, e.g. ``model.generate(seed=3, duration_s=2.0)``.

        ``.audio`` is the sound; its metadata names this model's file, when it was loaded from one,
        so the sidecar of the saved sound remakes it (``distill generate --from``, ``remake``).
        """
        result = run_generation(self, replace(params or GenerationParams(), **settings), on_stage=on_stage)
        if self.path is None or self.content_sha256 is None:
            return result
        audio = result.audio
        metadata = {**audio.metadata, "model": {**audio.metadata.get("model", {}), **self.file_record()}}
        return replace(
            result, audio=Audio(samples=audio.samples, sample_rate=audio.sample_rate, metadata=metadata)
        )

    def file_record(self) -> dict[str, str]:
        """What a sound's metadata records of this model: its id and name and, when it was loaded
        from a file, that file (``distill.generation.remake.model_file_record``)."""
        record = {"id": self.id, "name": self.name}
        if self.path is None or self.content_sha256 is None:
            return record
        if self._file_record is None:
            self._file_record = model_file_record(self.path, self.content_sha256)
        return {**record, **self._file_record}

    def remake(
        self, sidecar: str | Path | RecordedSound, *, on_stage: Callable[[str], None] | None = None
    ) -> Generation:
        """The sound a sidecar (the ``.json``, or the audio file beside it) describes, made again:
        bit for bit with the same software. A UserError when another model made it
        (``distill.generation.remake.find_recorded_model`` finds the one that did)."""
        recorded = sidecar if isinstance(sidecar, RecordedSound) else read_recorded(sidecar)
        if recorded.blend is not None:
            raise UserError(
                f"{recorded.sidecar} records a blend of two models; `distill generate --from {recorded.sidecar}`"
                " finds both and remakes it."
            )
        if not recorded.made_by(self.content_sha256, self.path):
            maker = recorded.model.get("name") or recorded.model.get("id") or "another model"
            why = (
                "this model holds other weights"
                if self.path is not None
                else "this model was not loaded from a file, so it cannot be shown to be that one"
            )
            raise UserError(
                f"{self.name} cannot remake the sound of {recorded.sidecar}: model {maker} made it and {why};"
                f" `distill generate --from {recorded.sidecar}` finds that model in the library."
            )
        return self.generate(recorded.params, on_stage=on_stage)


def generate(
    model: DistillModel,
    duration_s: float | None = None,
    *,
    prompt_audio: str | Path | None = None,
    **settings: Any,
) -> Audio:
    """A new sound from ``model``: ``model.generate(...).audio``. ``settings`` are fields of
    ``GenerationParams`` (mode, temperature, top_k, top_p, seed, vocoder, overlap; ``mode`` None
    follows the collection; stereo, pan, binaural with hrtf for a stereo file)."""
    prompt = None if prompt_audio is None else str(prompt_audio)
    return model.generate(duration_s=duration_s, prompt=prompt, **settings).audio
