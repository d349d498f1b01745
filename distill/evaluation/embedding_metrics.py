"""Set-level quality numbers on sound embeddings ([N, D] arrays, one row per sound), pure numpy.

Four numbers, each chosen because it stays meaningful at the 5 to 500 sounds a collection has:

- **KAD** (Chung et al. 2025, "KAD: No More FAD!", arXiv 2502.15602): the unbiased MMD² between the
  reference (training / test) set and a candidate (generated) set under a Gaussian RBF kernel. It
  assumes no Gaussian and is unbiased at every set size, where a Fréchet distance's bias grows as
  the set shrinks. The convention is the authors' toolkit's (kadtk, ``calc_kernel_audio_distance``
  and ``median_pairwise_distance`` in kadtk/kad.py): k(x, y) = exp(-‖x−y‖² / (2σ²)), σ = the median
  of the reference set's pairwise distances over distinct pairs (the diagonal excluded), within-set
  means over i ≠ j, the cross mean over all pairs. Values are reported ×``KAD_SCALE`` (1000), the
  scale of issue 25's tables; kadtk prints ×100, so its numbers are a tenth of ours. ``mmd2`` gives
  the raw value.
- **Leave-one-out 1-NN two-sample accuracy** (Lopez-Paz & Oquab 2017; Xu et al. 2018, "An empirical
  study on evaluation metrics of generative adversarial networks"): 0.5 when the sets cannot be
  told apart, 1.0 when they are separable, well below 0.5 when generated sounds sit on top of
  training sounds (copies).
- **A copy check**: each generated sound against its nearest training sound, measured in units of
  that training sound's own distance to its nearest other training sound.
- **A same-collection floor**: the KAD between two halves of the training set, the value a perfect
  generator of that size would score, so a model's KAD reads against it rather than against 0.

Everything is float64 inside: embeddings arrive as float32, and the MMD² is a small difference of
large kernel means.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

KAD_SCALE = 1000.0  # issue 25's tables; kadtk uses 100
COPY_RATIO = 0.5
FLOOR_SPLITS = 5
BOOTSTRAP_RESAMPLES = 1000
INTERVAL_LEVEL = 0.95


def _points(x: Any, name: str, *, at_least: int) -> np.ndarray:
    points = np.asarray(x, dtype=np.float64)
    if points.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [sounds, dims], got shape {points.shape}.")
    if len(points) < at_least:
        raise ValueError(f"{name} needs at least {at_least} sounds, got {len(points)}.")
    if not np.isfinite(points).all():
        raise ValueError(f"{name} holds NaN or infinite values; embed the sounds again.")
    return points


def _pair(reference: Any, candidate: Any, *, at_least: int) -> tuple[np.ndarray, np.ndarray]:
    a = _points(reference, "reference", at_least=at_least)
    b = _points(candidate, "candidate", at_least=at_least)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"reference and candidate embeddings differ in width ({a.shape[1]} vs {b.shape[1]}); "
            "embed both sets with the same model."
        )
    return a, b


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """‖a_i − b_j‖², [len(a), len(b)], by the Gram expansion (an [N, M, D] difference would not fit)."""
    d2 = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0)  # the expansion can round a true 0 to a tiny negative


def _self_squared_distances(a: np.ndarray) -> np.ndarray:
    d2 = _squared_distances(a, a)
    np.fill_diagonal(d2, 0.0)
    return d2


def median_pairwise_distance(points: Any) -> float:
    """The median distance over distinct pairs of a set: the KAD kernel's bandwidth σ.

    Like any median it settles quickly: its spread shrinks as 1/√(pairs). Raises ValueError when
    every point is the same, where no bandwidth exists.
    """
    x = _points(points, "reference", at_least=2)
    upper = np.triu_indices(len(x), k=1)
    sigma = float(np.median(np.sqrt(_self_squared_distances(x)[upper])))
    if sigma <= 0.0:
        raise ValueError("reference embeddings are all identical, so they define no kernel bandwidth.")
    return sigma


def _kernel(d2: np.ndarray, bandwidth: float) -> np.ndarray:
    return np.exp(-d2 / (2.0 * bandwidth * bandwidth))


def _within_mean(k: np.ndarray) -> float:
    """Mean of a set's kernel over ordered pairs i ≠ j: the term that makes MMD² unbiased."""
    n = len(k)
    return float((k.sum() - np.trace(k)) / (n * (n - 1)))


def mmd2(reference: Any, candidate: Any, *, bandwidth: float | None = None) -> float:
    """Raw unbiased MMD² (KAD before scaling) with σ = ``bandwidth`` or the reference's median distance.

    Unbiased: its expectation is the population MMD² at every set size, so it does not drift with
    how many sounds were generated; its noise does: the standard deviation falls as
    O(1/√min(m, n)) when the sets differ and as O(1/n) when they do not. Being unbiased it can be
    slightly negative for two samples of one distribution. In [−2, 2]; 0 means indistinguishable.
    """
    x, y = _pair(reference, candidate, at_least=2)
    sigma = median_pairwise_distance(x) if bandwidth is None else float(bandwidth)
    if not sigma > 0.0:
        raise ValueError(f"the kernel bandwidth must be positive, got {bandwidth}.")
    k_xx = _kernel(_self_squared_distances(x), sigma)
    k_yy = _kernel(_self_squared_distances(y), sigma)
    k_xy = _kernel(_squared_distances(x, y), sigma)
    return _within_mean(k_xx) + _within_mean(k_yy) - 2.0 * float(k_xy.mean())


def kad(reference: Any, candidate: Any, *, bandwidth: float | None = None) -> float:
    """KAD ×1000 (``KAD_SCALE`` × ``mmd2``): the number issue 25's tables show."""
    return KAD_SCALE * mmd2(reference, candidate, bandwidth=bandwidth)


@dataclass(frozen=True, kw_only=True)
class KadInterval:
    """KAD ×1000 with a bootstrap interval over the candidate set."""

    value: float
    low: float
    high: float
    level: float  # e.g. 0.95 for a 95 % percentile interval
    bandwidth: float  # σ of the kernel, in embedding units


def kad_with_interval(
    reference: Any,
    candidate: Any,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    level: float = INTERVAL_LEVEL,
    seed: int = 0,
    bandwidth: float | None = None,
) -> KadInterval:
    """KAD ×1000 and a seeded percentile-bootstrap interval from resampling the candidate set.

    The reference (the collection) is held fixed, as it is the thing measured against, so the
    interval says how much the number would move with another draw of generated sounds; its width
    falls as 1/√n in the candidate count n. A resample repeats sounds, and a sound paired with its
    own copy would count as a perfectly matching pair (k = 1) and inflate the within-set term, so
    the within-candidate mean runs over pairs of distinct original sounds only (resamples with no
    such pair are skipped). That keeps the bootstrap distribution centred close to the point estimate.
    """
    x, y = _pair(reference, candidate, at_least=2)
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}.")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level}.")
    sigma = median_pairwise_distance(x) if bandwidth is None else float(bandwidth)
    if not sigma > 0.0:
        raise ValueError(f"the kernel bandwidth must be positive, got {bandwidth}.")
    n = len(y)
    xx = _within_mean(_kernel(_self_squared_distances(x), sigma))
    k_yy = _kernel(_self_squared_distances(y), sigma)
    np.fill_diagonal(k_yy, 0.0)
    cross = _kernel(_squared_distances(x, y), sigma).mean(axis=0)  # [n]: each candidate's mean over x
    value = xx + float(k_yy.sum()) / (n * (n - 1)) - 2.0 * float(cross.mean())

    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)
    # Σ_ab over resampled positions whose original sounds differ = cᵀ K₀ c (K₀: zero diagonal);
    # such ordered pairs number n² − Σ c_i².
    pair_sums = ((counts @ k_yy) * counts).sum(axis=1)
    pair_counts = n * n - (counts**2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        yy = np.where(pair_counts > 0, pair_sums / pair_counts, np.nan)
    replicates = xx + yy - 2.0 * (counts @ cross) / n
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.nanpercentile(replicates, [tail, 100.0 - tail])
    return KadInterval(
        value=KAD_SCALE * value,
        low=KAD_SCALE * float(low),
        high=KAD_SCALE * float(high),
        level=level,
        bandwidth=sigma,
    )


def one_nn_accuracy(reference: Any, candidate: Any) -> float:
    """Leave-one-out 1-NN two-sample accuracy, balanced: the mean of the two sets' own accuracies.

    Both sets are pooled; each sound is labelled with the set of its nearest other sound. Balanced,
    because with unequal sizes the plain accuracy of two identical distributions is not 0.5 (the
    bigger set's sounds find their own kind more often); balanced, it is (N − 2) / (2(N − 1)) in
    expectation for N pooled sounds (0.47 at N = 20), 1.0 for separable sets, and well below 0.5
    when candidates sit on top of reference sounds (copies). Its sampling spread is about
    0.5/√N, so at small N differences of a few hundredths are noise. Each set needs two sounds:
    a lone sound has no neighbour of its own kind and would always count as wrong.
    """
    x, y = _pair(reference, candidate, at_least=2)
    pooled = np.concatenate([x, y])
    labels = np.concatenate([np.zeros(len(x), dtype=bool), np.ones(len(y), dtype=bool)])
    d2 = _squared_distances(pooled, pooled)
    np.fill_diagonal(d2, np.inf)
    right = labels[d2.argmin(axis=1)] == labels
    return float(0.5 * (right[~labels].mean() + right[labels].mean()))


@dataclass(frozen=True, kw_only=True)
class NearestTraining:
    """One generated sound's nearest training sound, and whether it is close enough to be a copy."""

    index: int  # row of the nearest training sound
    distance: float  # to it, in embedding units
    spacing: float  # that training sound's distance to its own nearest other training sound
    ratio: float  # distance / spacing (0 for an exact copy, inf when spacing is 0 and distance is not)
    flagged: bool


@dataclass(frozen=True, kw_only=True)
class CopyCheck:
    """The copy check of a generated set: one entry per generated sound, in order."""

    nearest: tuple[NearestTraining, ...]
    threshold_ratio: float

    @property
    def flagged(self) -> tuple[int, ...]:
        """Rows of the generated sounds flagged as copies."""
        return tuple(i for i, entry in enumerate(self.nearest) if entry.flagged)


def _nearest_exact(queries: np.ndarray, pool: np.ndarray, d2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query's nearest pool row (by ``d2``) and the distance recomputed from the difference.

    The Gram expansion leaves rounding of order ‖x‖²·1e-16, which hides an exact copy and blurs a
    near one; recomputing just these N distances directly gives 0 for identical rows.
    """
    index = d2.argmin(axis=1)
    return index, np.linalg.norm(queries - pool[index], axis=1)


def copy_check(training: Any, generated: Any, *, threshold_ratio: float = COPY_RATIO) -> CopyCheck:
    """Flag generated sounds that sit closer to a training sound than the collection's own spacing.

    Rule: generated g, nearest training sound j at distance d, s = j's distance to its nearest
    other training sound; g is flagged when d ≤ ``threshold_ratio`` · s (default 0.5). Measuring in
    j's own spacing makes the rule scale-free and local: a dense cluster of drum hits and a lone
    drone each set their own yardstick. An exact copy (d = 0) is always flagged, since 0 ≤ anything.
    The ratio 1 version is the "authenticity" test of Alaa et al. 2022 ("How faithful is your
    synthetic data?"), but an independent draw from the collection's own distribution lands inside
    s 20 to 60 % of the time, so it cannot single out copies; at 0.5 such draws were
    flagged under 1 % of the time in 8 dimensions and never from 32 up (seeded Gaussian simulation,
    5 to 100 training sounds), while in 2 dimensions, where nearest neighbours are not concentrated,
    a quarter were, so the rule is for embeddings, not for a handful of hand-made features. As the
    training set grows both d and s shrink together, so the rate stays flat with set size.
    """
    x, g = _pair(training, generated, at_least=1)
    if len(x) < 2:
        raise ValueError(
            f"the copy check needs at least 2 training sounds to measure their spacing, got {len(x)}."
        )
    if not threshold_ratio >= 0.0:
        raise ValueError(f"threshold_ratio must be non-negative, got {threshold_ratio}.")
    d2_xx = _squared_distances(x, x)
    np.fill_diagonal(d2_xx, np.inf)
    _, spacing = _nearest_exact(x, x, d2_xx)
    index, distance = _nearest_exact(g, x, _squared_distances(g, x))
    entries = []
    for j, d in zip(index.tolist(), distance.tolist(), strict=True):
        s = float(spacing[j])
        ratio = d / s if s > 0.0 else (0.0 if d == 0.0 else float("inf"))
        entries.append(
            NearestTraining(index=j, distance=d, spacing=s, ratio=ratio, flagged=d <= threshold_ratio * s)
        )
    return CopyCheck(nearest=tuple(entries), threshold_ratio=threshold_ratio)


@dataclass(frozen=True, kw_only=True)
class Floor:
    """The KAD ×1000 between halves of one collection over seeded splits: what "as good as it gets" reads."""

    mean: float
    std: float  # spread over the splits (population standard deviation)
    values: tuple[float, ...]
    half_size: int  # sounds in the smaller half


def same_collection_floor(training: Any, *, splits: int = FLOOR_SPLITS, seed: int = 0) -> Floor:
    """KAD ×1000 between two random halves of the training set, over ``splits`` seeded splits.

    Every split uses one σ, the whole training set's median distance, the σ a generated set is
    scored with, so the floor and the model's KAD are on one scale. Unbiased MMD² is 0 in
    expectation for two halves of one set, so the mean sits near 0 and the spread is the number
    to read: it is the noise of a KAD at half the collection's size (it shrinks as 1/n), and a
    model's KAD inside mean ± a few spreads cannot be told from the collection itself.
    """
    x = _points(training, "training", at_least=4)
    if splits < 1:
        raise ValueError(f"splits must be at least 1, got {splits}.")
    sigma = median_pairwise_distance(x)
    rng = np.random.default_rng(seed)
    half = len(x) // 2
    values = []
    for _ in range(splits):
        order = rng.permutation(len(x))
        values.append(kad(x[order[:half]], x[order[half:]], bandwidth=sigma))
    return Floor(mean=float(np.mean(values)), std=float(np.std(values)), values=tuple(values), half_size=half)


@dataclass(frozen=True, kw_only=True)
class SetScore:
    """A candidate set scored against a reference set; None where a set is too small to say.

    KAD fields are ×1000 (``KAD_SCALE``) with a bootstrap interval over the candidate set; KAD and
    1-NN accuracy each need at least two sounds in each set.
    """

    kad: float | None
    kad_low: float | None
    kad_high: float | None
    one_nn_accuracy: float | None
    n: int  # candidate sounds
    n_reference: int

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-safe: plain floats, ints and None."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SetScore:
        def number(key: str) -> float | None:
            return None if data[key] is None else float(data[key])

        return cls(
            kad=number("kad"),
            kad_low=number("kad_low"),
            kad_high=number("kad_high"),
            one_nn_accuracy=number("one_nn_accuracy"),
            n=int(data["n"]),
            n_reference=int(data["n_reference"]),
        )


def score_set(
    reference: Any, candidate: Any, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> SetScore:
    """KAD ×1000 with its interval and the 1-NN accuracy of a candidate set against a reference.

    Too few sounds in a set gives None for the numbers that need them, not an error, so a report
    can still show the rest; malformed input (wrong shape, widths that differ) is a ValueError.
    """
    x, y = _pair(reference, candidate, at_least=0)
    if min(len(x), len(y)) < 2:
        return SetScore(
            kad=None, kad_low=None, kad_high=None, one_nn_accuracy=None, n=len(y), n_reference=len(x)
        )
    interval = kad_with_interval(x, y, resamples=resamples, seed=seed)
    return SetScore(
        kad=interval.value,
        kad_low=interval.low,
        kad_high=interval.high,
        one_nn_accuracy=one_nn_accuracy(x, y),
        n=len(y),
        n_reference=len(x),
    )
