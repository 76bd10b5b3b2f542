#!/usr/bin/env python3
"""Dense peers: exact and approximate nearest-neighbour search with faiss and hnswlib, one thread.

Usage: dense_peers.py DATASET_DIR [--k 10] [--json OUT.json] [--truth OUT.npy]
                      [--only flat,hnsw,ivfpq] [--reps 3] [--irmetrics PATH]

DATASET_DIR holds corpus.npy (n x d float32) and queries.npy (nq x d float32), L2-normalised, so
inner product = cosine (the development sets under shared/data, or a folder from make_vectors.py).
Every figure is single-threaded: OMP/OpenBLAS/MKL thread counts are pinned to 1 before numpy is
imported, faiss.omp_set_num_threads(1), hnswlib set_num_threads(1). Timings use
time.perf_counter; a timed pass runs all queries, and the figure is the best of --reps passes.

What is measured:
  flat   faiss IndexFlatIP (exact). Two ways of calling it:
           one query per call  -- search(Q[i:i+1], k) in a Python loop (faiss's own SIMD scan)
           batch               -- search(Q, k) once for all queries (faiss uses BLAS sgemm for
                                  batches of 20+ queries, then a top-k pass)
         reported as queries/s and GFLOP/s, counting 2*n*d floating-point operations per query
         (the dot products only; top-k selection and Python call overhead are inside the clock).
         Once the vectors outgrow the CPU caches, one query per call is bound by memory bandwidth
         (n*d*4 bytes streamed per query), the batch by arithmetic.
         The batch top-k ids are the ground truth for every recall figure (--truth saves them as
         an nq x k int64 .npy of 0-based corpus row numbers; in a make_vectors.py set row r is the
         record "v%06d" % (r + 1)).
  hnsw   hnswlib, space "ip", M=16, ef_construction=200, random_seed=100; build seconds (init_index +
         add_items), then for ef in 16/20/24/32/64/128: recall@k against exact and queries/s one query per
         call (hnswlib searches with max(ef, k)). Index bytes = size of save_index's file
         (vectors + graph links + labels).
  ivfpq  faiss IndexIVFPQ, inner product, nlist = round(4*sqrt(n)), m = 48 sub-quantizers x 8 bits
         (48 bytes a vector), trained on min(n, 100,000) random corpus vectors. Build seconds
         (train + add), then for nprobe 4/8/16/32: recall@k and queries/s one query per call, without
         re-ranking (PQ-approximate scores), and with exact re-ranking of the top 4k PQ candidates
         (IndexRefineFlat, k_factor 4; it keeps a full float32 copy of the vectors). Index bytes =
         faiss.serialize_index size of the IVF-PQ index (+ n*d*4 for the re-ranking copy); code
         bytes (JSON only) = n*m, the PQ codes alone without list ids and centroids.

recall@k = |approximate top k  intersect  exact top k| / k, averaged over queries.

Quality (only if DATASET_DIR also has corpus.jsonl, queries.jsonl and qrels.tsv, and --irmetrics
points at shared/bench/irmetrics.py): nDCG@10 for every result list (from its top min(k, 10)), ids
taken from the jsonl lines.

Output: a markdown table on stdout; --json writes {"dataset", "n", "d", "nq", "k", ..., "records": [...]}.
"""
import os
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"  # before numpy/faiss load their BLAS

import argparse
import importlib.metadata
import importlib.util
import json
import math
import platform
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_IRMETRICS = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "bench", "irmetrics.py"))
SYSTEMS = ("flat", "hnsw", "ivfpq")
HNSW_M, HNSW_EFC, HNSW_EFS = 16, 200, (16, 20, 24, 32, 64, 128)
PQ_M, PQ_BITS, NPROBES, REFINE_FACTOR = 48, 8, (4, 8, 16, 32), 4
TRAIN_MAX = 100_000


# ---------- helpers ----------

def best_of(reps, fn):
    """Run fn() reps times; return (smallest wall seconds, result of the last run)."""
    best, out = math.inf, None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def one_by_one(search, Q, k):
    """Search every query in its own call; returns an (nq, k) int64 id array."""
    I = np.empty((len(Q), k), dtype=np.int64)
    for i in range(len(Q)):
        I[i] = search(Q[i:i + 1], k)
    return I


def recall_at(I, truth, k):
    """Mean |I[:, :k] & truth[:, :k]| / k over queries."""
    return float(np.mean([len(set(a[:k].tolist()) & set(b[:k].tolist())) / k for a, b in zip(I, truth)]))


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


class Quality:
    """nDCG@10 against DATASET_DIR/qrels.tsv, when the dataset and irmetrics.py allow it."""

    def __init__(self, d, n, nq, irmetrics_path):
        self.ok = False
        paths = [os.path.join(d, f) for f in ("corpus.jsonl", "queries.jsonl", "qrels.tsv")]
        if not (all(os.path.exists(p) for p in paths) and os.path.exists(irmetrics_path)):
            return
        spec = importlib.util.spec_from_file_location("irmetrics", irmetrics_path)
        self.ir = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.ir)
        self.doc_ids = [json.loads(l)["id"] for l in open(paths[0]) if l.strip()]
        self.query_ids = [json.loads(l)["id"] for l in open(paths[1]) if l.strip()]
        if len(self.doc_ids) != n or len(self.query_ids) != nq:
            print(f"note: jsonl rows ({len(self.doc_ids)}, {len(self.query_ids)}) do not match the vectors "
                  f"({n}, {nq}); nDCG skipped", file=sys.stderr)
            return
        self.qrels = self.ir.load_qrels(paths[2])
        self.ok = True

    def ndcg10(self, I):
        if not self.ok:
            return None
        run = {q: [self.doc_ids[j] for j in row[:10] if j >= 0] for q, row in zip(self.query_ids, I)}
        return self.ir.ndcg(run, self.qrels, k=10)


# ---------- systems ----------

def run_flat(X, Q, k, reps, records, quality):
    import faiss
    n, d = X.shape
    index = faiss.IndexFlatIP(d)
    index.add(X)
    flops = 2.0 * n * d * len(Q)
    secs1, I1 = best_of(reps, lambda: one_by_one(lambda q, kk: index.search(q, kk)[1][0], Q, k))
    secsb, (_, Ib) = best_of(reps, lambda: index.search(Q, k))
    # Ties can order equal scores differently between the two code paths; report how often the
    # top-k sets agree, as a check that both calls compute the same thing.
    agree = recall_at(I1, Ib, k)
    nd = quality.ndcg10(Ib)
    for mode, secs in (("one query per call", secs1), ("batch (all queries, one call)", secsb)):
        records.append({"system": "faiss IndexFlatIP", "params": mode, "recall": 1.0,
                        "qps": len(Q) / secs, "gflops": flops / secs / 1e9, "index_bytes": n * d * 4,
                        "ndcg10": nd, "seconds": secs,
                        "note": f"top-{k} sets of both modes agree {agree:.4f}"})
    return Ib


def run_hnsw(X, Q, k, reps, records, quality, truth):
    import hnswlib
    n, d = X.shape
    index = hnswlib.Index(space="ip", dim=d)
    t = time.perf_counter()
    index.init_index(max_elements=n, M=HNSW_M, ef_construction=HNSW_EFC, random_seed=100)
    index.set_num_threads(1)
    index.add_items(X, np.arange(n), num_threads=1)
    build = time.perf_counter() - t
    with tempfile.TemporaryDirectory(prefix="dense-peers-") as tmp:
        path = os.path.join(tmp, "hnsw.bin")
        index.save_index(path)
        size = os.path.getsize(path)
    for ef in HNSW_EFS:
        index.set_ef(ef)
        secs, I = best_of(reps, lambda: one_by_one(lambda q, kk: index.knn_query(q, k=kk)[0][0], Q, k))
        records.append({"system": "hnswlib", "params": f"M={HNSW_M} efC={HNSW_EFC} ef={ef}",
                        "recall": recall_at(I, truth, k), "qps": len(Q) / secs, "build_s": build,
                        "index_bytes": size, "ndcg10": quality.ndcg10(I), "seconds": secs})


def run_ivfpq(X, Q, k, reps, records, quality, truth, seed=1):
    import faiss
    n, d = X.shape
    if d % PQ_M:
        print(f"ivfpq skipped: d={d} is not a multiple of m={PQ_M}", file=sys.stderr)
        return
    nlist = max(1, round(4 * math.sqrt(n)))
    rng = np.random.default_rng(seed)
    train = X if n <= TRAIN_MAX else X[np.sort(rng.choice(n, TRAIN_MAX, replace=False))]
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFPQ(quantizer, d, nlist, PQ_M, PQ_BITS, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = index.pq.cp.seed = seed
    # faiss warns (once per sub-quantizer) when there are fewer than 39 training points per
    # centroid; say it once here instead and silence the 49 repeats.
    short = [f"{what} needs {39 * c:,}" for what, c in (("coarse", nlist), ("PQ", 2 ** PQ_BITS)) if len(train) < 39 * c]
    if short:
        print(f"note: ivfpq trains on {len(train):,} vectors; faiss suggests more ({', '.join(short)})", file=sys.stderr)
    index.cp.min_points_per_centroid = index.pq.cp.min_points_per_centroid = 1
    # Exact re-ranking: IndexRefineFlat keeps a float32 copy of the vectors next to the base index and
    # re-scores its top k*k_factor candidates. It must wrap the base index while both are empty;
    # its add() then fills both, and searching `index` directly gives the un-reranked results.
    refine = faiss.IndexRefineFlat(index)
    t = time.perf_counter()
    refine.train(train)  # trains the IVF-PQ base (the flat store needs no training)
    refine.add(X)
    build = time.perf_counter() - t
    size = faiss.serialize_index(index).size
    for nprobe in NPROBES:
        index.nprobe = nprobe
        secs, I = best_of(reps, lambda: one_by_one(lambda q, kk: index.search(q, kk)[1][0], Q, k))
        records.append({"system": "faiss IndexIVFPQ", "params": f"nlist={nlist} m={PQ_M}x{PQ_BITS}b nprobe={nprobe}",
                        "recall": recall_at(I, truth, k), "qps": len(Q) / secs, "build_s": build,
                        "index_bytes": size, "code_bytes": n * PQ_M, "ndcg10": quality.ndcg10(I),
                        "seconds": secs, "note": f"trained on {len(train):,} vectors; no re-ranking"})
    for nprobe in NPROBES:
        ivf_params = faiss.SearchParametersIVF(nprobe=nprobe)  # kept alive: params only points at it
        params = faiss.IndexRefineSearchParameters(k_factor=REFINE_FACTOR, base_index_params=ivf_params)
        secs, I = best_of(reps, lambda: one_by_one(lambda q, kk: refine.search(q, kk, params=params)[1][0], Q, k))
        records.append({"system": "faiss IVFPQ + exact rerank",
                        "params": f"nlist={nlist} m={PQ_M}x{PQ_BITS}b nprobe={nprobe} k_factor={REFINE_FACTOR}",
                        "recall": recall_at(I, truth, k), "qps": len(Q) / secs, "build_s": build,
                        "index_bytes": size + n * d * 4, "code_bytes": n * PQ_M, "ndcg10": quality.ndcg10(I),
                        "seconds": secs, "note": "re-scores the top k*k_factor PQ candidates with float32 vectors"})


# ---------- report ----------

def fmt_bytes(b):
    return "" if b is None else f"{b / 2**20:,.1f} MiB"


def table(records, show_ndcg):
    cols = ["system", "params", "build s", "recall@k", "q/s", "GFLOP/s", "index", "B/vector"]
    if show_ndcg:
        cols.append("nDCG@10")
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in records:
        row = [r["system"], r["params"],
               f"{r['build_s']:.1f}" if r.get("build_s") is not None else "",
               f"{r['recall']:.4f}", f"{r['qps']:,.0f}",
               f"{r['gflops']:.1f}" if r.get("gflops") is not None else "",
               fmt_bytes(r.get("index_bytes")),
               f"{r['index_bytes'] / r['n']:.0f}" if r.get("index_bytes") else ""]
        if show_ndcg:
            row.append(f"{r['ndcg10']:.4f}" if r.get("ndcg10") is not None else "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", help="write all figures to this JSON file")
    ap.add_argument("--truth", help="save the exact top-k corpus row numbers (nq x k int64 .npy)")
    ap.add_argument("--only", default=",".join(SYSTEMS), help=f"comma-separated subset of {','.join(SYSTEMS)}")
    ap.add_argument("--reps", type=int, default=3, help="timed passes per figure; the best counts (default 3)")
    ap.add_argument("--irmetrics", default=DEFAULT_IRMETRICS, help="path of shared/bench/irmetrics.py (for nDCG)")
    a = ap.parse_args()
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    if bad := [s for s in only if s not in SYSTEMS]:
        raise SystemExit(f"--only: unknown {bad}; choose from {SYSTEMS}")

    import faiss
    faiss.omp_set_num_threads(1)

    X = np.ascontiguousarray(np.load(os.path.join(a.dataset, "corpus.npy")), dtype=np.float32)
    Q = np.ascontiguousarray(np.load(os.path.join(a.dataset, "queries.npy")), dtype=np.float32)
    n, d = X.shape
    if Q.shape[1] != d:
        raise SystemExit(f"queries have {Q.shape[1]} dimensions, corpus {d}")
    k = min(a.k, n)
    quality = Quality(a.dataset, n, len(Q), a.irmetrics)
    print(f"dataset {a.dataset}: n={n:,} d={d} queries={len(Q):,} k={k}; 1 thread, best of {a.reps}",
          file=sys.stderr)

    records = []
    # Ground truth always comes from the exact batch search (untimed here if flat is not selected).
    if "flat" in only:
        truth = run_flat(X, Q, k, a.reps, records, quality)
    else:
        flat = faiss.IndexFlatIP(d)
        flat.add(X)
        truth = flat.search(Q, k)[1]
        del flat
    if a.truth:
        np.save(a.truth, truth.astype(np.int64))
        print(f"wrote exact top-{k} row numbers to {a.truth}", file=sys.stderr)
    if "hnsw" in only:
        run_hnsw(X, Q, k, a.reps, records, quality, truth)
    if "ivfpq" in only:
        run_ivfpq(X, Q, k, a.reps, records, quality, truth)
    for r in records:
        r["n"] = n

    print(f"\n{a.dataset}: n={n:,}, d={d}, {len(Q):,} queries, k={k}, 1 thread, "
          f"q/s = one query per call unless marked batch, best of {a.reps}\n")
    print(table(records, quality.ok))
    if a.json:
        out = {"dataset": os.path.abspath(a.dataset), "n": n, "d": d, "nq": len(Q), "k": k, "threads": 1,
               "reps": a.reps, "cpu": cpu_model(), "python": platform.python_version(),
               "faiss": faiss.__version__, "hnswlib": importlib.metadata.version("hnswlib"),
               "numpy": np.__version__, "recall": "mean |approx top-k & exact top-k| / k",
               "records": records}
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
        print(f"\nwrote {a.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
