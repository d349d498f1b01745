"""Stage by stage: where a model loses its collection's sound, on a pretrained sound-effects embedding.

Every set is embedded with ``SoundEmbedding`` (aisfx) and scored against the training files with
``embedding_metrics.score_set`` (KAD ×1000 with a bootstrap interval, balanced leave-one-out 1-NN
accuracy). Read the table top to bottom: each stage adds one part of the model to the path from
the recording to what a user hears, so the stage whose KAD jumps is where the sound is lost.

- floor: two halves of the training files against each other (the noise of the measure itself);
- vocoder: the training files' own mels rendered by the vocoder (mel -> audio);
- via codes: the training files through the code grid (audio -> codes -> mel -> audio);
- held-out / held-out via codes: files the model never trained on, as recorded and through the codes;
- generated: new sounds in the model's default mode;
- noise: white noise at the collection's level ("nothing learned").

A stage's KAD is comparable with another only for the same reference set; its interval says how
far a small set's number can move (see ``embedding_metrics`` for how each number scales with set
size). The copy check names generated sounds that sit closer to one training sound than that
sound's nearest neighbour in the collection does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from distill.audio.mel import log_mel
from distill.evaluation.embedding import SoundEmbedding
from distill.evaluation.embedding_metrics import SetScore, copy_check, same_collection_floor, score_set

if TYPE_CHECKING:
    from distill.model import DistillModel

# In table order; the floor is its own row (halves of the reference, not a set scored against it).
STAGES = ("vocoder", "via codes", "held-out", "held-out via codes", "generated", "noise")
STAGE_LABELS = {
    "floor": "same collection (two halves)",
    "vocoder": "training files, vocoder only",
    "via codes": "training files via codes",
    "held-out": "held-out files",
    "held-out via codes": "held-out files via codes",
    "generated": "generated",
    "noise": "white noise",
}
# Clips are rendered on their first 30 s: enough to embed (blocks of 2.3 s are averaged), and the
# memory of a long recording's rendering stays bounded.
MAX_CLIP_S = 30.0


@dataclass(frozen=True, kw_only=True)
class StageTable:
    """KAD ×1000 and 1-NN accuracy of every stage against the training files (JSON via ``as_dict``)."""

    reference: int  # training files embedded
    floor: float | None  # mean KAD ×1000 between halves of the training files; None: too few files
    floor_spread: float | None  # its standard deviation over the seeded splits
    stages: dict[str, SetScore | None]  # stage -> score; None: no such set (e.g. no held-out files)
    copies: tuple[int, ...]  # generated sounds (by index) that copy a training sound

    def as_dict(self) -> dict[str, Any]:
        return {
            "embedding": "aisfx",
            "reference": self.reference,
            "floor": self.floor,
            "floor_spread": self.floor_spread,
            "stages": {name: (s.as_dict() if s is not None else None) for name, s in self.stages.items()},
            "copies": list(self.copies),
        }

    @classmethod
    def from_dict(cls, data: Any) -> StageTable | None:
        """A recorded table, or None when absent or malformed."""
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(
                reference=int(data["reference"]),
                floor=None if data["floor"] is None else float(data["floor"]),
                floor_spread=None if data["floor_spread"] is None else float(data["floor_spread"]),
                stages={
                    name: (SetScore.from_dict(score) if score is not None else None)
                    for name, score in data["stages"].items()
                },
                copies=tuple(int(index) for index in data["copies"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def vocoded(model: DistillModel, clips: Sequence[np.ndarray], vocoder: str) -> list[np.ndarray]:
    """Each clip's own mel rendered by the vocoder (mel -> audio): mono samples at the model's rate,
    each clip's first ``MAX_CLIP_S``."""
    rendered = []
    with torch.inference_mode():
        for clip in _limited(model, clips):
            mel = log_mel(torch.from_numpy(np.ascontiguousarray(clip))[None], model.mel_config)[0]
            rendered.append(model.vocode(mel, vocoder).samples[: len(clip)])
    return rendered


def through_codes(model: DistillModel, clips: Sequence[np.ndarray], vocoder: str) -> list[np.ndarray]:
    """Each clip through the code grid (audio -> codes -> mel -> audio), as ``vocoded``."""
    with torch.inference_mode():
        return [
            model.render(model.encode(clip), vocoder=vocoder).samples[: len(clip)]
            for clip in _limited(model, clips)
        ]


def rendered_stages(
    model: DistillModel, training: Sequence[np.ndarray], vocoder: str
) -> dict[str, list[np.ndarray]]:
    """The training files through the vocoder alone and through the codes."""
    return {
        "vocoder": vocoded(model, training, vocoder),
        "via codes": through_codes(model, training, vocoder),
    }


def _limited(model: DistillModel, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
    limit = int(MAX_CLIP_S * model.mel_config.sample_rate)
    return [clip[:limit] for clip in clips]


def stage_table(
    sets: Mapping[str, Sequence[np.ndarray]],
    *,
    training: Sequence[np.ndarray],
    sample_rate: int,
    embedding: SoundEmbedding | None = None,
    seed: int = 0,
    on_progress: Callable[[str], None] | None = None,
) -> StageTable:
    """Score each of ``sets`` (stage -> clips, any of ``STAGES``) against ``training``."""
    unknown = sorted(set(sets) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stage {unknown[0]!r}; stages are {', '.join(STAGES)}")
    report = on_progress or (lambda message: None)
    embedding = embedding or SoundEmbedding()
    report(f"embedding {len(training)} training files")
    reference = embedding.embed(training, sample_rate)
    try:
        floor = same_collection_floor(reference, seed=seed)
        floor_mean, floor_spread = floor.mean, floor.std
    except ValueError:  # too few files to halve
        floor_mean = floor_spread = None
    scores: dict[str, SetScore | None] = {}
    embedded: dict[str, np.ndarray] = {}
    for name in STAGES:
        clips = sets.get(name)
        if not clips:
            scores[name] = None
            continue
        report(f"embedding {len(clips)} {STAGE_LABELS[name]}")
        embedded[name] = embedding.embed(clips, sample_rate)
        scores[name] = score_set(reference, embedded[name], seed=seed)
    copies: tuple[int, ...] = ()
    if "generated" in embedded and len(reference) >= 2:
        copies = copy_check(reference, embedded["generated"]).flagged
    return StageTable(
        reference=len(reference), floor=floor_mean, floor_spread=floor_spread, stages=scores, copies=copies
    )
