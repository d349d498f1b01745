"""What the model library knows about one model file, read from its manifest metadata.

Metadata keys the library reads (``Manifest.metadata``); only ``id`` is required, an absent key
gives ``None`` in ``ModelEntry`` and a key of the wrong type is refused with a ``MetadataError``:

=========================================  ======================================================
``id``                                     str, unique per trained model (a uuid4 hex suits)
``name``                                   str, the name ``add`` uses when given none
``created``                                str, ISO 8601 date-time
``dataset.tier``                           str, ``small`` / ``medium`` / ``large``
``dataset.file_count``                     int, usable audio files trained on
``dataset.total_duration_s``               number, seconds of audio trained on
``codebook_health.levels[i].utilization``  number in [0, 1] per RVQ level; the entry keeps the min
``vocoder.type``                           str, the generator's kind, e.g. ``vocos`` or ``hifigan``
``vocoder.steps``                          int, generator updates of the vocoder
``vocoder.quality.mstft``                  number, its M-STFT distance on held-out files
``tags``                                   list of str
=========================================  ======================================================

The library writes ``name`` (the library name) and ``tags`` into its copy of each file, so the
files alone carry everything the index holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from distill.bundle.errors import MetadataError
from distill.bundle.format import Manifest
from distill.vocoders import MSTFT_VERSION


@dataclass(frozen=True)
class ModelEntry:
    name: str
    id: str
    path: Path
    created: datetime | None
    tier: str | None
    file_count: int | None
    duration_s: float | None
    components: tuple[str, ...]
    vocoder_type: str | None
    vocoder_steps: int | None
    vocoder_mstft: float | None
    min_codebook_utilization: float | None
    tags: tuple[str, ...]


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _field(
    path: Path, mapping: dict[str, Any], key: str, label: str, check: Callable[[object], bool], expected: str
) -> Any:
    value = mapping.get(key)
    if value is not None and not check(value):
        raise MetadataError(path, label, expected)
    return value


def metadata_tags(path: Path, metadata: dict[str, Any]) -> list[str]:
    """The ``tags`` key, checked; ``[]`` when absent."""
    tags = _field(
        path,
        metadata,
        "tags",
        "tags",
        lambda v: isinstance(v, list) and all(map(_is_text, v)),
        "a list of text",
    )
    return tags or []


def entry_from_manifest(path: Path, name: str, manifest: Manifest) -> ModelEntry:
    """The library entry of the model file ``path`` named ``name``, from its manifest."""
    meta = manifest.metadata
    model_id = _field(path, meta, "id", "id", _is_text, "non-empty text")
    if model_id is None:
        raise MetadataError(path, "id", "present (non-empty text) to be in a library")
    created = _field(path, meta, "created", "created", _is_text, "an ISO 8601 date-time")
    if created is not None:
        try:
            created = datetime.fromisoformat(created)
        except ValueError:
            raise MetadataError(path, "created", "an ISO 8601 date-time") from None
    is_dict = lambda v: isinstance(v, dict)  # noqa: E731
    dataset = _field(path, meta, "dataset", "dataset", is_dict, "an object") or {}
    vocoder = _field(path, meta, "vocoder", "vocoder", is_dict, "an object") or {}
    health = _field(path, meta, "codebook_health", "codebook_health", is_dict, "an object") or {}
    levels = (
        _field(path, health, "levels", "codebook_health.levels", lambda v: isinstance(v, list), "a list")
        or []
    )
    utilizations = []
    for i, level in enumerate(levels):
        label = f"codebook_health.levels[{i}].utilization"
        if not isinstance(level, dict) or not _is_number(level.get("utilization")):
            raise MetadataError(path, label, "a number")
        utilizations.append(float(level["utilization"]))
    quality = _field(path, vocoder, "quality", "vocoder.quality", is_dict, "an object") or {}
    mstft = _field(path, quality, "mstft", "vocoder.quality.mstft", _is_number, "a number")
    if quality.get("mstft_version", 1) != MSTFT_VERSION:
        mstft = None  # on an older scale: never listed beside (or ranked against) today's numbers
    duration = _field(path, dataset, "total_duration_s", "dataset.total_duration_s", _is_number, "a number")
    return ModelEntry(
        name=name,
        id=model_id,
        path=path,
        created=created,
        tier=_field(path, dataset, "tier", "dataset.tier", _is_text, "text"),
        file_count=_field(path, dataset, "file_count", "dataset.file_count", _is_int, "an integer"),
        duration_s=float(duration) if duration is not None else None,
        components=manifest.components,
        vocoder_type=_field(path, vocoder, "type", "vocoder.type", _is_text, "text"),
        vocoder_steps=_field(path, vocoder, "steps", "vocoder.steps", _is_int, "an integer"),
        vocoder_mstft=float(mstft) if mstft is not None else None,
        min_codebook_utilization=min(utilizations) if utilizations else None,
        tags=tuple(metadata_tags(path, meta)),
    )
