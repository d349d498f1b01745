"""How close a model's generated sound is to its collection, measured on the audio a user hears.

One evaluation, used by ``distill evaluate``, ``make demo`` and ``experiments/eval_generation.py``:

- stage by stage (``stages``, the headline): KAD on a pretrained sound-effects embedding of the
  vocoder's, the code grid's and the prior's output against the training files, with a
  same-collection floor, held-out files, noise and a copy check;
- secondary, frame statistics: the Fréchet distance of generated audio's frame statistics to the
  training files' (see ``features``), beside three references on the same scale: the held-out
  files' distance (what real new recordings of the collection measure), the same files'
  resynthesis through the codes (what the RVQ-VAE and vocoder let any generation reach: the
  prior's floor) and white noise's at the collection's level (what "nothing learned" measures);
- shape: the spread of length, onset strength and crest factor of generated sounds vs training
  and held-out files;
- resynthesis: held-out files through audio -> codes -> mel -> audio (the model's own vocoder as
  generation selects it), mel L1 and M-STFT against the real recordings;
- memorization: the generated sounds' code grids against the training grids, with the held-out
  grids as the baseline (the check the prior runs after training, on these very sounds).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
import numpy as np
import torch

from distill.audio.io import UnusableAudioError, load_audio
from distill.callbacks.memorization import default_settings
from distill.codes.memorization import memorization_report
from distill.errors import UserError
from distill.evaluation.features import FrameStatistics, SoundShape, Spread, frechet_distance, shape_spreads
from distill.evaluation.stages import StageTable, rendered_stages, stage_table
from distill.generation.params import GenerationParams, check_seeds
from distill.generation.pipeline import run_generation
from distill.vocoders.quality import VocoderQuality, measure_vocoder, stft_distance_config

if TYPE_CHECKING:
    from distill.model import DistillModel

# Held-out files are resynthesised on their first 30 s: enough to score, and memory stays bounded.
MAX_RESYNTHESIS_S = 30.0
# "via codes": the held-out files resynthesised (audio -> codes -> mel -> audio).
SETS = ("held-out", "via codes", "generated", "noise")


@dataclass(frozen=True, kw_only=True)
class GenerationEvaluation:
    """The evaluation table's numbers (JSON-safe through ``as_dict``; kept in the model file)."""

    mode: str
    count: int
    distance: dict[str, float | None]  # set -> Fréchet distance to the training files; None: no such set
    frames: dict[str, int]  # sounding frames behind each set's statistics (training included)
    shapes: dict[str, dict[str, Spread]]  # training / held-out / generated -> field -> spread
    resynthesis: VocoderQuality | None  # None without held-out files
    memorization: dict[str, Any]
    stages: StageTable | None = None  # None: recorded before the stage table existed

    @property
    def distance_ratio(self) -> float | None:
        """Generated over held-out distance: 1.0 is as close as real new recordings."""
        generated, heldout = self.distance.get("generated"), self.distance.get("held-out")
        if generated is None or not heldout:
            return None
        return generated / heldout

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "count": self.count,
            "distance": self.distance,
            "distance_ratio": self.distance_ratio,
            "frames": self.frames,
            "shapes": {
                name: {k: v.as_dict() for k, v in spreads.items()} for name, spreads in self.shapes.items()
            },
            "resynthesis": self.resynthesis.as_dict() if self.resynthesis is not None else None,
            "memorization": self.memorization,
            "stages": self.stages.as_dict() if self.stages is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Any) -> GenerationEvaluation | None:
        """The evaluation recorded in a model file, or None when absent or malformed."""
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(
                mode=str(data["mode"]),
                count=int(data["count"]),
                distance=dict(data["distance"]),
                frames={key: int(value) for key, value in data["frames"].items()},
                shapes={
                    name: {
                        key: Spread(median=v["median"], low=v["p10"], high=v["p90"])
                        for key, v in spreads.items()
                    }
                    for name, spreads in data["shapes"].items()
                },
                resynthesis=VocoderQuality.from_dict(data.get("resynthesis")),
                memorization=dict(data.get("memorization") or {}),
                stages=StageTable.from_dict(data.get("stages")),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def record_in(self, model_file: Path) -> None:
        """Write this evaluation into a model file's metadata (``distill models info`` and the
        report show it). Only the metadata changes: the weights are copied byte for byte, so the
        sounds the model made still remake."""
        from distill.bundle.format import copy_model_file, read_manifest

        metadata = read_manifest(model_file).metadata
        copy_model_file(model_file, model_file, metadata={**metadata, "evaluation": self.as_dict()})


def load_listed(root: Path, names: list[str], sample_rate: int) -> tuple[list[np.ndarray], int]:
    """The listed files found under ``root`` as mono samples, and how many could not be read."""
    clips, missing = [], 0
    for name in names:
        try:
            clips.append(load_audio(root / name, sample_rate=sample_rate).samples)
        except (OSError, UnusableAudioError):
            missing += 1
    return clips, missing


def collection_files(
    model: DistillModel, data: Path | None
) -> tuple[Path, list[np.ndarray], list[np.ndarray], int]:
    """(root, training clips, held-out clips, missing count) of the files the model was trained on,
    under ``data`` or where the model file says they were."""
    dataset = model.metadata.get("dataset") or {}
    root = (data or Path(dataset.get("root") or ".")).expanduser()
    rate = model.mel_config.sample_rate
    training, missing_train = load_listed(root, dataset.get("train_files") or [], rate)
    heldout, missing_val = load_listed(root, dataset.get("val_files") or [], rate)
    if not training:
        raise UserError(
            f"None of {model.name}'s training files were found under {root}; pass --data <its folder>."
        )
    return root, training, heldout, missing_train + missing_val


def white_noise(like: list[np.ndarray], count: int, seed: int) -> list[np.ndarray]:
    """``count`` white-noise clips as long as the clips of ``like`` (in turn), at their median RMS."""
    rms = statistics.median(float(np.sqrt(np.mean(np.square(clip, dtype=np.float64)))) for clip in like)
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(len(like[i % len(like)])) * rms).astype(np.float32) for i in range(count)]


def _stft_distance():
    return hydra.utils.instantiate(stft_distance_config())


MAX_COUNT = 10_000  # sounds one evaluation generates: the distances settle long before


def evaluate_generation(
    model: DistillModel,
    *,
    data: Path | None = None,
    count: int = 16,
    seed: int = 0,
    mode: str | None = None,
    vocoder: str = "auto",
    generated: list[np.ndarray] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> GenerationEvaluation:
    """Generate ``count`` sounds (seeds seed..seed+count-1) and measure them against the collection.

    ``generated``: measure these clips (mono, at the model's rate) instead, e.g. files another
    version of distill wrote; their code grids for the memorization check are then encoded.
    """
    if generated is None and (
        isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= MAX_COUNT
    ):
        raise UserError(
            f"--count must be from 2 (a distribution needs several sounds) to {MAX_COUNT}, got {count}."
        )
    if generated is None:
        check_seeds(seed, count)
    report = on_progress or (lambda message: None)
    mel_config = model.mel_config
    _, training, heldout, _ = collection_files(model, data)

    def encode(clip: np.ndarray) -> torch.Tensor:
        return model.encode(clip).codes

    if generated is None:
        generated, grids = [], []
        for index in range(count):
            report(f"generating {index + 1}/{count}")
            result = run_generation(model, GenerationParams(mode=mode, seed=seed + index, vocoder=vocoder))
            generated.append(result.audio.samples)
            grids.append(result.grid.codes)
            mode = result.params.mode
    else:
        grids = [encode(clip) for clip in generated]
        mode = mode or "given"
    report("resynthesising held-out files")
    resynthesis, via_codes = _resynthesis(model, heldout, vocoder) if heldout else (None, [])
    report("rendering the training files through the vocoder and the codes")
    rendered = rendered_stages(model, training, vocoder)
    # The metrics' own draws (noise, resampling) need a seed numpy takes; generation's may be negative.
    metric_seed = seed % 2**32
    noise = white_noise(training, len(generated), metric_seed)
    stages = stage_table(
        {
            **rendered,
            "held-out": heldout,
            "held-out via codes": via_codes,
            "generated": generated,
            "noise": noise,
        },
        training=training,
        sample_rate=mel_config.sample_rate,
        seed=metric_seed,
        on_progress=report,
    )
    report("measuring")
    reference = FrameStatistics.of(training, mel_config)
    sets = {"held-out": heldout, "via codes": via_codes, "generated": generated, "noise": noise}
    statistics_of = {name: FrameStatistics.of(clips, mel_config) for name, clips in sets.items() if clips}
    distance = {
        name: (frechet_distance(statistics_of[name], reference) if name in statistics_of else None)
        for name in SETS
    }
    frames = {"training": reference.frames, **{name: stats.frames for name, stats in statistics_of.items()}}
    shapes = {
        name: shape_spreads([SoundShape.of(clip, mel_config) for clip in clips])
        for name, clips in {"training": training, **sets}.items()
        if clips and name != "noise"
    }
    settings = default_settings()
    memorization = memorization_report(
        generated=grids,
        training=[encode(clip) for clip in training],
        heldout=[encode(clip) for clip in heldout],
        window=settings.window,
        ratio_threshold=settings.ratio_threshold,
        min_share=settings.min_share,
        similarity_ratio_threshold=settings.similarity_ratio_threshold,
    ).to_dict()
    return GenerationEvaluation(
        mode=mode,
        count=len(generated),
        distance=distance,
        frames=frames,
        shapes=shapes,
        resynthesis=resynthesis,
        memorization=memorization,
        stages=stages,
    )


def _resynthesis(
    model: DistillModel, heldout: list[np.ndarray], vocoder: str
) -> tuple[VocoderQuality, list[np.ndarray]]:
    """Held-out files through audio -> codes -> mel -> audio: their scores against themselves, and
    the renderings (mono samples) for the frame statistics."""
    selection = model.select_vocoder(vocoder)
    mel_config = model.mel_config
    renderings: list[np.ndarray] = []

    def through_codes(mel: torch.Tensor) -> torch.Tensor:  # [1, n_mels, T] -> [1, 1, T * hop]
        # the recording's mel is measure_vocoder's, so its codes are the RVQ-VAE's of that mel
        grid = model.grid(model.vqvae.encode(mel)[0], mel.shape[-1])
        wave = selection.vocoder(model.decode(grid)[None])
        renderings.append(wave.flatten().float().numpy())
        return wave

    limit = int(MAX_RESYNTHESIS_S * mel_config.sample_rate)
    with torch.inference_mode():
        quality = measure_vocoder(
            through_codes,
            [torch.from_numpy(clip[:limit]) for clip in heldout],
            stft_distance=_stft_distance(),
            mel_config=mel_config,
        )
    return quality, renderings
