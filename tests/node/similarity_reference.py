#!/usr/bin/python3
"""Reference values for node/src/similarity/measures.hpp, computed independently with numpy.

Usage: similarity_reference.py DIR BINS
DIR holds query.f32 and any number of <name>.f32 candidates (raw little-endian float32, all the
same length). Prints one line per candidate: name ncc mi mi_reversed cr
  ncc          Pearson correlation of the values
  mi           mutual information (nats) of the joint histogram: each volume in BINS
               equal-frequency bins, bin = rank * BINS // n, rank = number of values below
  mi_reversed  the same with the two volumes swapped
  cr           correlation ratio eta^2(query | candidate), the candidate's values in BINS bins as
               above
"""
import os
import sys

import numpy as np


def bins_of(x, bins):
    rank = np.searchsorted(np.sort(x), x, side="left")
    return rank * bins // len(x)


def mutual_information(a, b, bins):
    joint = np.zeros((bins, bins))
    np.add.at(joint, (bins_of(a, bins), bins_of(b, bins)), 1.0)
    p = joint / joint.sum()
    pa, pb = p.sum(axis=1), p.sum(axis=0)
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz])))


def correlation_ratio(query, candidate, bins):
    classes = bins_of(candidate, bins)
    y = query.astype(np.float64)
    total = np.sum((y - y.mean()) ** 2)
    within = 0.0
    for c in np.unique(classes):
        yc = y[classes == c]
        within += np.sum((yc - yc.mean()) ** 2)
    return float(1.0 - within / total)


def main():
    folder, bins = sys.argv[1], int(sys.argv[2])
    query = np.fromfile(os.path.join(folder, "query.f32"), dtype="<f4")
    for file in sorted(os.listdir(folder)):
        if not file.endswith(".f32") or file == "query.f32":
            continue
        cand = np.fromfile(os.path.join(folder, file), dtype="<f4")
        ncc = float(np.corrcoef(query.astype(np.float64), cand.astype(np.float64))[0, 1])
        print(file[:-4], f"{ncc:.12g}", f"{mutual_information(query, cand, bins):.12g}",
              f"{mutual_information(cand, query, bins):.12g}", f"{correlation_ratio(query, cand, bins):.12g}")


if __name__ == "__main__":
    main()
