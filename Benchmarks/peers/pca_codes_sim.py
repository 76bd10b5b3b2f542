#!/usr/bin/env python3
"""Simulates the pca8 code kind's coarse stage (docs/dense.md, "PCA codes").

Usage: pca_codes_sim.py DATASET_DIR     (corpus.npy and queries.npy, e.g. ../shared/data/manpages-dev)

First, why a rotation: in float arithmetic, rank every vector by the dot product over its
first H dimensions (raw order, or on the principal axes), keep the best R, rescore those with
all dimensions, keep 12, and count the exact top 10 recovered.

Then the code kind itself. Per query, as DenseSnapshot.searchPCA does on one list: rotate onto the corpus's principal
axes (axes quantized to bytes, the query to signed bytes), score every vector on the first p
axes (8-bit codes, or 4-bit codes = the 8-bit code / 17), keep the best M, rescore those on
the whole r-axis 8-bit code (or, "mixed", on the 4-bit prefix plus the 8-bit rest), keep C,
and count how many of the exact top 10 the exact scores of those C recover. Prints one line
per configuration: recall@10 against exact search.
"""
import sys

import numpy as np

data = sys.argv[1]
X = np.load(f"{data}/corpus.npy").astype(np.float32)
Q = np.load(f"{data}/queries.npy").astype(np.float32)
X /= np.linalg.norm(X, axis=1, keepdims=True)
Q /= np.linalg.norm(Q, axis=1, keepdims=True)
S = Q @ X.T
truth = np.argsort(-S, axis=1)[:, :10]
mean = X.mean(0)
_, vectors = np.linalg.eigh(np.cov((X - mean).T))


def q8(m):  # per-row symmetric signed bytes, as ragdb_quantize_s8
    s = np.abs(m).max(1, keepdims=True) / 127
    return np.round(m / s) * s


axes = q8(vectors[:, ::-1].T.astype(np.float32))
Qq = q8(Q)


def recall(pre, full, keep, cand):
    top = np.argsort(-pre, axis=1)[:, :keep]
    total = 0.0
    for i in range(len(Q)):
        t = top[i][np.argsort(-full[i, top[i]])[:cand]]
        best = t[np.argsort(-S[i, t])[:10]]
        total += len(set(best) & set(truth[i])) / 10
    return total / len(Q)


principal = vectors[:, ::-1].astype(np.float32)
for name, R in (("raw dimensions", np.eye(X.shape[1], dtype=np.float32)), ("principal axes", principal)):
    Xr, Qr = X @ R, Q @ R
    for h in (96, 128, 192):
        prefix = Qr[:, :h] @ Xr[:, :h].T
        for keep in (30, 50, 100):
            print(f"float, {name}, first {h}, keep {keep}, candidates 12: recall@10 {recall(prefix, S, keep, 12):.4f}", flush=True)

for r in (192, 256, 288):
    Y = (X - mean) @ axes[:r].T
    lo, hi = Y.min(0), Y.max(0)
    step = (hi - lo) / 255
    codes = np.clip(np.round((Y - lo) / step), 0, 255)
    Qr = Qq @ axes[:r].T
    const = (Q @ mean + Qr @ lo)[:, None]
    full = const + q8(Qr * step) @ codes.T
    nibbles = np.floor((codes + 8) / 17)
    for p in (64, 96, 128):
        for bits in (8, 4):
            c, st = (codes, step) if bits == 8 else (nibbles, 17 * step)
            pre = const + q8(Qr[:, :p] * st[:p]) @ c[:, :p].T
            rescorings = [("whole 8-bit", full)]
            if bits == 4:
                rescorings.append(("mixed", pre + q8(Qr[:, p:] * step[p:]) @ codes[:, p:].T))
            for name, rescore in rescorings:
                for keep in (48, 64, 96):
                    for cand in (10, 12):
                        print(f"r {r} p {p} {bits}-bit prefix, rescore {name}, keep {keep}, candidates {cand}: "
                              f"recall@10 {recall(pre, rescore, keep, cand):.4f}", flush=True)
