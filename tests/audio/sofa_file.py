"""A tiny synthetic SOFA (SimpleFreeFieldHRIR) file: each ear's response is one unit impulse, the
far ear's later by a known number of samples, so interaural time differences are known exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# (azimuth, elevation) -> (left delay, right delay) in samples; azimuth 90 is the listener's left.
DELAYS = {(0.0, 0.0): (8, 8), (90.0, 0.0): (8, 20), (-90.0, 0.0): (20, 8), (0.0, 60.0): (8, 8)}
LENGTH = 64


def write_sofa(
    path: Path, *, sample_rate: int = 44100, cartesian: bool = False, convention: str | None = None
) -> Path:
    import h5py

    directions = list(DELAYS)
    responses = np.zeros((len(directions), 2, LENGTH))
    for index, direction in enumerate(directions):
        left, right = DELAYS[direction]
        responses[index, 0, left] = 1.0
        responses[index, 1, right] = 0.5 if direction == (90.0, 0.0) else 1.0  # the far ear is quieter
    positions = np.array([[az, el, 1.5] for az, el in directions])
    if cartesian:
        az, el = np.radians(positions[:, 0]), np.radians(positions[:, 1])
        positions = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=1) * 1.5
    with h5py.File(path, "w") as sofa:
        sofa.attrs["Conventions"] = "SOFA"
        sofa.attrs["SOFAConventions"] = convention or "SimpleFreeFieldHRIR"
        sofa["Data.IR"] = responses
        sofa["Data.SamplingRate"] = np.array([float(sample_rate)])
        sofa["SourcePosition"] = positions
        sofa["SourcePosition"].attrs["Type"] = "cartesian" if cartesian else "spherical"
    return path
