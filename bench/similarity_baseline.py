#!/usr/bin/python3
"""The researcher's way, the baseline of bench/similarity_bench.sh: score candidate series that
getscu downloaded against the query series, with numpy (pydicom reads the files).

Usage: similarity_baseline.py QUERY_DIR CANDIDATE_DIR...
Each DIR holds one series' DICOM files. Each volume: slices sorted along the slice normal,
rescale applied, resampled to 32^3 in index space (trilinear, separable), z-scored; the score is
mutual information (nats) with 32 equal-frequency bins per volume (as mi/1 bins). Prints one line
per candidate, best first: DIR score.
"""
import os
import sys

import numpy as np
import pydicom

GRID, BINS = 32, 32


def volume_of(folder):
    slices = [pydicom.dcmread(os.path.join(folder, f)) for f in sorted(os.listdir(folder))]
    normal = np.cross(*np.array(slices[0].ImageOrientationPatient, dtype=float).reshape(2, 3))
    slices.sort(key=lambda s: float(np.dot(normal, np.array(s.ImagePositionPatient, dtype=float))))
    return np.stack([s.pixel_array.astype(np.float64) * float(getattr(s, "RescaleSlope", 1)) +
                     float(getattr(s, "RescaleIntercept", 0)) for s in slices])


def resample_axis(v, axis, n):
    """Linear interpolation of v along `axis` to n samples, corners included."""
    size = v.shape[axis]
    x = np.linspace(0, size - 1, n)
    lo = np.clip(np.floor(x).astype(int), 0, size - 1)
    hi = np.clip(lo + 1, 0, size - 1)
    w = (x - lo).reshape([-1 if a == axis else 1 for a in range(v.ndim)])
    return np.take(v, lo, axis=axis) * (1 - w) + np.take(v, hi, axis=axis) * w


def normalised(folder):
    v = volume_of(folder)
    for axis in range(3):
        v = resample_axis(v, axis, GRID)
    v = v.ravel()
    sd = v.std()
    return (v - v.mean()) / sd if sd > 0 else np.zeros_like(v)


def bins_of(x):
    rank = np.searchsorted(np.sort(x), x, side="left")
    return rank * BINS // len(x)


def mutual_information(a, b):
    joint = np.zeros((BINS, BINS))
    np.add.at(joint, (bins_of(a), bins_of(b)), 1.0)
    p = joint / joint.sum()
    pa, pb = p.sum(axis=1), p.sum(axis=0)
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz])))


def main():
    query = normalised(sys.argv[1])
    scores = [(mutual_information(query, normalised(d)), d) for d in sys.argv[2:]]
    for score, d in sorted(scores, reverse=True):
        print(d, f"{score:.6f}")


if __name__ == "__main__":
    main()
