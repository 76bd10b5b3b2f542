#!/usr/bin/env python3
"""How well does a short prefix of PCA-rotated vectors rank candidates? (docs/dense.md, "Next")

Usage: pca_prefix_sim.py DATASET_DIR      (corpus.npy and queries.npy, e.g. ../shared/data/manpages-dev)

For each query: rank every corpus vector by the dot product over the first H dimensions (raw
order, or after rotating by the corpus's principal axes), keep the best R, rescore those with
all dimensions, keep 12, and count how many of the exact top 10 survive. Float arithmetic: it
measures the ranking power of the prefix, not quantization. Prints one line per (order, H, R).
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
_, vectors = np.linalg.eigh(np.cov(X.T))
rotations = {"raw": np.eye(X.shape[1], dtype=np.float32), "pca": vectors[:, ::-1].astype(np.float32)}
for name, R in rotations.items():
    Xr, Qr = X @ R, Q @ R
    for h in (96, 128, 192):
        P = Qr[:, :h] @ Xr[:, :h].T
        for keep in (30, 50, 100):
            top = np.argsort(-P, axis=1)[:, :keep]
            recall = 0.0
            for i in range(len(Q)):
                best = top[i][np.argsort(-S[i, top[i]])[:12]]
                recall += len(set(best) & set(truth[i])) / 10
            print(f"{name} first {h} dims, keep {keep}: recall@10 {recall / len(Q):.4f}")
