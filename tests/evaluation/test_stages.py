"""The stage table on the pretrained embedding: each set scored against the training files."""

import numpy as np
import pytest

from distill.evaluation.embedding import SoundEmbedding
from distill.evaluation.stages import STAGES, StageTable, stage_table

RATE = 44100


def _hit(seed: int, *, pitch: float) -> np.ndarray:
    """A decaying tone with a noisy attack, like a small drum kit's hits (varied by seed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.6 * RATE)) / RATE
    tone = np.sin(2 * np.pi * pitch * (1 + 0.05 * rng.standard_normal()) * t)
    attack = rng.standard_normal(t.size) * np.exp(-t * 60)
    return (0.5 * (tone + attack) * np.exp(-t * 6)).astype(np.float32)


@pytest.fixture(scope="module")
def embedding() -> SoundEmbedding:
    return SoundEmbedding()


@pytest.fixture(scope="module")
def training() -> list[np.ndarray]:
    return [_hit(seed, pitch=180.0 + 10 * seed) for seed in range(10)]


def test_stages_are_scored_against_the_training_files(embedding, training):
    rng = np.random.default_rng(0)
    sets = {
        "held-out": [_hit(100 + seed, pitch=185.0 + 10 * seed) for seed in range(6)],
        "generated": [training[3].copy(), *(_hit(200 + seed, pitch=190.0 + 9 * seed) for seed in range(5))],
        "noise": [(0.1 * rng.standard_normal(int(0.6 * RATE))).astype(np.float32) for _ in range(6)],
    }
    table = stage_table(sets, training=training, sample_rate=RATE, embedding=embedding)
    assert table.reference == 10 and table.floor is not None and table.floor_spread is not None
    assert set(table.stages) == set(STAGES)
    assert table.stages["vocoder"] is None and table.stages["via codes"] is None  # not given: not scored
    heldout, noise = table.stages["held-out"], table.stages["noise"]
    assert noise.kad > 5 * max(heldout.kad, 1.0) and noise.one_nn_accuracy > 0.9
    assert heldout.kad_low <= heldout.kad <= heldout.kad_high
    assert 0 in table.copies  # the exact copy of a training hit
    again = StageTable.from_dict(table.as_dict())
    assert again == table


def test_a_stage_outside_the_table_is_refused(training):
    with pytest.raises(ValueError, match="unknown stage 'vocoders'"):
        stage_table({"vocoders": training}, training=training, sample_rate=RATE, embedding=object())


def test_a_malformed_record_reads_as_none():
    assert StageTable.from_dict(None) is None and StageTable.from_dict({"reference": 3}) is None
