#!/usr/bin/env python3
"""Make a larger, realistic dense-vector set from the real MiniLM vectors, for dense-search benchmarks.

Usage: make_vectors.py OUTDIR --count N [--queries 1000] [--noise 0.7] [--mix 10] [--split] [--seed 1]
                       [--data DIR]

Seeds. Every corpus and query vector of the development sets (DIR/manpages-dev and DIR/classic-dev,
corpus.npy + queries.npy each; DIR defaults to ../../../shared/data relative to this file): 5,928
all-MiniLM-L6-v2 vectors, 384 dimensions, L2-normalised (but see --split below).

Each output vector:
  1. a seed s drawn uniformly at random (with replacement);
  2. with --mix K > 0 (default 10): a point on the segment from s towards one of s's K nearest
     seeds t (chosen uniformly), p = (1 - a) s + a t with a ~ U(0, 1), L2-normalised;
     with --mix 0 the seed itself, p = s;
  3. plus isotropic Gaussian noise with per-dimension sigma = noise / sqrt(dims), so the noise
     vector's norm is about --noise (default 0.7) times unit; then L2-normalised.

Why the segments. With noise alone the set is ~6,000 tight clusters: at --noise 0.7 a copy keeps
cosine ~0.82 with its seed and two copies of one seed have cosine ~0.67, while copies of even the
nearest other seed (seed cosine ~0.73) sit near 0.48; on 100,000 vectors 99% of a query's exact
top 10 are copies of its own seed (1.1 distinct seeds per top 10), so IVF recall does not move
with nprobe and HNSW reaches 0.997 recall at ef 16. Noise large enough to blur the clusters
(norm 1.5 and up) leaves vectors mostly random. Spreading points along the segments between
neighbouring seeds fills the space between them, as a large real corpus fills the space between
its topics: with the defaults, on 100,000 vectors, a query's exact top 10 involve ~5 different
seeds (a third of them its own), with mean cosines 0.69 / 0.64 / 0.49 at ranks 1 / 10 / 100.

Queries are made the same way from separate random streams, so no query equals a corpus vector.
By default they draw from the same seed pool as the corpus, so they are in-distribution: like
using documents as queries, which is easy for graph indexes (hnswlib M=16 reaches ~0.99 recall@10
at ef 16 on such sets, as it does on manpages-dev with its documents as queries). Real queries are
not documents: on manpages-dev's real queries the same index gets 0.945. --split reproduces that
gap: the corpus is built from the 4,306 document vectors only (segments to their nearest document
vectors), the queries from the 1,622 real query vectors only (segments to their nearest query
vectors); on 100,000 vectors hnswlib then gets 0.78 recall@10 at ef 16, 0.985 at ef 128.

Writes, streaming in blocks of 50,000 rows (peak memory ~350 MB whatever N):
  OUTDIR/corpus.npy      N x dims float32 (C order, .npy version 1)
  OUTDIR/corpus.jsonl    one {"id": "v000001", "text": "vector 1"} per row, in row order
  OUTDIR/queries.npy     Q x dims float32
  OUTDIR/queries.jsonl   one {"id": "q1", "text": "query 1"} per row
  OUTDIR/vectors.json    the parameters used (count, noise, mix, split, seed, seed files) for the record
Output is deterministic for a given (--count, --queries, --noise, --mix, --split, --seed, seed files).

The corpus imports into ragdb one record per vector:
  ragdb import DB --collection vec --chunker none --vectors minilm=OUTDIR/corpus.npy OUTDIR/corpus.jsonl
"""
import argparse
import json
import os
import time

import numpy as np

BLOCK = 50_000
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data"))
SETS = ("manpages-dev", "classic-dev")


def load_seeds(data_dir):
    """The development sets' vectors: {"corpus": (S1, dims), "queries": (S2, dims)} float32, and
    the files they came from."""
    pools, sources = {}, []
    for name in ("corpus", "queries"):
        parts = []
        for s in SETS:
            path = os.path.join(data_dir, s, name + ".npy")
            parts.append(np.load(path).astype(np.float32, copy=False))
            sources.append({"file": path, "rows": int(parts[-1].shape[0])})
        pools[name] = np.concatenate(parts)
        if np.any(np.abs(np.linalg.norm(pools[name], axis=1) - 1) > 1e-3):
            raise SystemExit("seed vectors are expected to be L2-normalised")
    return pools, sources


def seed_neighbours(seeds, k):
    """The k nearest other seeds of every seed (by cosine), as an (S, k) index array."""
    out = np.empty((len(seeds), k), dtype=np.int64)
    for start in range(0, len(seeds), 1024):
        sims = seeds[start:start + 1024] @ seeds.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf  # not itself
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
        out[start:start + len(sims)] = np.take_along_axis(part, order, axis=1)
    return out


def write_set(path_npy, path_jsonl, count, seeds, neighbours, sigma, rng_pick, rng_noise, id_of, text_of):
    """Stream `count` generated vectors into an .npy and a matching .jsonl, BLOCK rows at a time."""
    dims = seeds.shape[1]
    with open(path_npy, "wb") as fv, open(path_jsonl, "w") as fj:
        np.lib.format.write_array_header_1_0(
            fv, {"descr": "<f4", "fortran_order": False, "shape": (count, dims)})
        for start in range(0, count, BLOCK):
            n = min(BLOCK, count - start)
            pick = rng_pick.integers(0, len(seeds), size=n)
            block = seeds[pick]
            if neighbours is not None:  # move towards a random near seed, a ~ U(0, 1)
                other = neighbours[pick, rng_pick.integers(0, neighbours.shape[1], size=n)]
                a = rng_pick.random((n, 1), dtype=np.float32)
                block = (1 - a) * block + a * seeds[other]
                block /= np.linalg.norm(block, axis=1, keepdims=True)
            block += rng_noise.standard_normal((n, dims), dtype=np.float32) * np.float32(sigma)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            fv.write(block.astype("<f4", copy=False).tobytes())
            fj.write("".join(json.dumps({"id": id_of(i), "text": text_of(i)}) + "\n"
                             for i in range(start + 1, start + n + 1)))
    return os.path.getsize(path_npy), os.path.getsize(path_jsonl)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--count", type=int, required=True, help="corpus vectors to write")
    ap.add_argument("--queries", type=int, default=1000, help="query vectors to write (default 1000)")
    ap.add_argument("--noise", type=float, default=0.7,
                    help="noise norm relative to the unit seed vector (default 0.7)")
    ap.add_argument("--mix", type=int, default=10,
                    help="place points between a seed and one of its MIX nearest seeds; 0 = seed + noise only (default 10)")
    ap.add_argument("--split", action="store_true",
                    help="corpus from the data sets' document vectors only, queries from their query vectors only")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--data", default=DEFAULT_DATA, help=f"folder holding {', '.join(SETS)}")
    a = ap.parse_args()
    if a.count < 1 or a.queries < 1 or a.mix < 0:
        raise SystemExit("--count and --queries must be positive, --mix not negative")

    t0 = time.perf_counter()
    pools, sources = load_seeds(a.data)
    if a.split:
        c_seeds, q_seeds = pools["corpus"], pools["queries"]
    else:
        c_seeds = q_seeds = np.concatenate([pools["corpus"], pools["queries"]])
    dims = c_seeds.shape[1]
    sigma = a.noise / np.sqrt(dims)

    def neighbours_of(seeds):
        return seed_neighbours(seeds, min(a.mix, len(seeds) - 1)) if a.mix > 0 else None
    c_nn = neighbours_of(c_seeds)
    q_nn = neighbours_of(q_seeds) if a.split else c_nn
    os.makedirs(a.outdir, exist_ok=True)

    # Four independent streams: (corpus | queries) x (seed choice | noise).
    ss = np.random.SeedSequence(a.seed)
    c_pick, c_noise, q_pick, q_noise = (np.random.default_rng(s) for s in ss.spawn(4))

    width = max(6, len(str(a.count)))
    out = {}
    out["corpus"] = write_set(
        os.path.join(a.outdir, "corpus.npy"), os.path.join(a.outdir, "corpus.jsonl"), a.count, c_seeds,
        c_nn, sigma, c_pick, c_noise, lambda i: f"v{i:0{width}d}", lambda i: f"vector {i}")
    out["queries"] = write_set(
        os.path.join(a.outdir, "queries.npy"), os.path.join(a.outdir, "queries.jsonl"), a.queries, q_seeds,
        q_nn, sigma, q_pick, q_noise, lambda i: f"q{i}", lambda i: f"query {i}")

    meta = {"count": a.count, "queries": a.queries, "dims": dims, "noise_norm": a.noise,
            "sigma_per_dim": float(sigma), "mix_neighbours": a.mix, "split": a.split, "seed": a.seed,
            "corpus_seed_vectors": int(len(c_seeds)), "query_seed_vectors": int(len(q_seeds)),
            "seed_sources": sources, "block_rows": BLOCK}
    with open(os.path.join(a.outdir, "vectors.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")

    secs = time.perf_counter() - t0
    if a.split:
        print(f"seeds: {len(c_seeds):,} MiniLM document vectors for the corpus, {len(q_seeds):,} MiniLM "
              f"query vectors for the queries ({dims} dims) from {a.data}")
    else:
        print(f"seeds: {len(c_seeds):,} MiniLM vectors ({dims} dims) from {a.data}, for corpus and queries")
    how = f"points between a seed and one of its {a.mix} nearest seeds" if a.mix else "seed vectors"
    print(f"vectors: {how} + noise of norm ~{a.noise} (sigma {sigma:.5f} per dimension), seed {a.seed}")
    for name, rows in (("corpus", a.count), ("queries", a.queries)):
        nb, jb = out[name]
        print(f"wrote {os.path.join(a.outdir, name + '.npy')}: {rows:,} x {dims} float32 ({nb / 2**20:.1f} MiB)")
        print(f"wrote {os.path.join(a.outdir, name + '.jsonl')}: {rows:,} lines ({jb / 2**20:.1f} MiB)")
    print(f"wrote {os.path.join(a.outdir, 'vectors.json')} in {secs:.1f} s")


if __name__ == "__main__":
    main()
