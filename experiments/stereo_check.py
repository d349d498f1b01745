"""Stereo and binaural output of a real model, measured: how wide ``--stereo`` is, whether the
mono fold-down (left + right) has comb-filter notches, and the interaural delay of ``--binaural``
through a synthetic HRTF set whose delay is known.

    .venv/bin/python experiments/stereo_check.py MODEL [--library DIR] [--seeds 4]

Per width: the side's level under the mid (dB), the left/right correlation, and the deepest notch
of the fold-down against the mono sound of the same seed, in 1024-point bins averaged over time
(a comb filter from a delay would show here as notches of 10 dB or more).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from distill.model import DistillModel

ITD_SAMPLES = 12  # the synthetic set's far-ear delay at azimuth 90 (the left)


def band_power(samples: np.ndarray, n_fft: int = 1024) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(samples, n_fft)[:: n_fft // 2] * np.hanning(n_fft)
    return (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)


def synthetic_sofa(path: Path) -> Path:
    import h5py

    directions = [(0.0, 0.0, 1.5), (90.0, 0.0, 1.5), (-90.0, 0.0, 1.5)]
    responses = np.zeros((3, 2, 64))
    responses[:, :, 8] = 1.0
    responses[1, 1, 8], responses[1, 1, 8 + ITD_SAMPLES] = 0.0, 0.5  # left source: the right ear later
    responses[2, 0, 8], responses[2, 0, 8 + ITD_SAMPLES] = 0.0, 0.5
    with h5py.File(path, "w") as sofa:
        sofa.attrs["SOFAConventions"] = "SimpleFreeFieldHRIR"
        sofa["Data.IR"] = responses
        sofa["Data.SamplingRate"] = np.array([44100.0])
        sofa["SourcePosition"] = np.array(directions)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--library", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    model = DistillModel.load(args.model, library=args.library)
    seeds = range(args.seeds)
    mono = {seed: model.generate(seed=seed).audio.samples.astype(np.float64) for seed in seeds}
    for width in (0.25, 0.5, 1.0):
        side_db, correlation, notch = [], [], []
        for seed in seeds:
            stereo = model.generate(seed=seed, stereo=width).audio.samples.astype(np.float64)
            left, right = stereo[:, 0], stereo[:, 1]
            mid, side = (left + right) / 2, (left - right) / 2
            side_db.append(20 * np.log10(np.sqrt(np.mean(side**2)) / np.sqrt(np.mean(mid**2))))
            correlation.append(np.corrcoef(left, right)[0, 1])
            reference = band_power(mono[seed])
            audible = reference > reference.max() * 1e-6
            notch.append(float(np.min(10 * np.log10(band_power(mid)[audible] / reference[audible]))))
        print(
            f"width {width:4.2f}: side {np.mean(side_db):6.1f} dB under the mid, left/right correlation"
            f" {np.mean(correlation):.3f}, deepest notch of the fold-down {min(notch):+.2f} dB"
        )
    with tempfile.TemporaryDirectory() as folder:
        sofa = synthetic_sofa(Path(folder) / "head.sofa")
        for azimuth, expected in ((90.0, ITD_SAMPLES), (-90.0, -ITD_SAMPLES), (0.0, 0)):
            out = model.generate(seed=0, binaural=(azimuth, 0.0), hrtf=str(sofa)).audio.samples.astype(
                np.float64
            )
            lag = int(np.argmax(np.correlate(out[:, 1], out[:, 0], mode="full"))) - (len(out) - 1)
            print(f"binaural azimuth {azimuth:+5.0f}: right ear lags {lag:+d} samples (set: {expected:+d})")


if __name__ == "__main__":
    main()
