#!/usr/bin/env python3
"""Ingest peers: how fast LanceDB and Chroma ingest the data `ragdb import` ingests.

Usage: ingest_peers.py CORPUS.jsonl VECTORS.npy [--repeat K] [--only lancedb,chroma]

Data. CORPUS.jsonl has one {"id", "title", "text"} object per line; VECTORS.npy is float32 (N, 384),
row i belonging to line i. --repeat K (default 1) feeds the corpus K times; with K > 1 every id
gets the suffix "#k" (k = 0..K-1, as Benchmarks/make_repeated.py does) and pass k reuses the same
vectors. Blank lines are skipped (and do not consume a vector row).

What is timed (time.perf_counter, one clock per system), in a fresh temp directory:
  np.load(VECTORS, mmap_mode="r"), then streaming CORPUS line by line (json.loads per line) into
  batches of 2,000 records (Chroma: min(2,000, client.get_max_batch_size())), and per batch:
  * LanceDB: build a pyarrow Table (id string, title string, text string,
    vector fixed_size_list<float32, 384>); the first batch creates the table
    (lancedb.connect(dir).create_table), later batches call table.add. No index is built
    (ragdb's import builds no ANN index either).
  * Chroma: chromadb.PersistentClient(path=dir) (telemetry off), collection "bench" (Chroma rejects
    names shorter than 3 characters) from get_or_create_collection(metadata={"hnsw:space": "cosine"},
    embedding_function=None), then collection.add(ids, documents, embeddings, metadatas=[{"title"}]).
    Chroma builds its HNSW index during add, so its time includes index construction.
  The client/connection set-up is inside the clock; the process start and imports are not.
  Once the clock stops, the row count is checked and the on-disk size is measured (untimed).

Peak RSS: each system runs in its own child process (this script with the hidden --child SYSTEM);
the parent reads that child's ru_maxrss from os.wait4, so the figure covers interpreter, imports,
and ingest of that system alone.

Output: one JSON line per system on stdout
  {"system", "documents", "input_mb" (JSONL bytes x repeat / 1e6), "seconds", "mb_per_s",
   "docs_per_s", "peak_rss_mb", "store_mb", "note"}
and a readable table on stderr.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

DIM, BATCH = 384, 2000
NOTES = {
    "lancedb": "create_table + table.add per 2,000-record batch; no ANN index built",
    "chroma": "collection.add per batch; Chroma builds its HNSW (cosine) index during add",
}


def batches(corpus, vectors, repeat, size):
    """Yields (ids, titles, texts, vectors float32 (n, DIM)) batches, streaming the JSONL."""
    import numpy as np
    vecs = np.load(vectors, mmap_mode="r")
    if vecs.ndim != 2 or vecs.shape[1] != DIM:
        sys.exit(f"{vectors}: expected shape (N, {DIM}), got {vecs.shape}")
    ids, titles, texts, rows = [], [], [], []
    for k in range(repeat):
        row = 0
        with open(corpus, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                obj = json.loads(line)
                ids.append(f"{obj['id']}#{k}" if repeat > 1 else str(obj["id"]))
                titles.append(obj.get("title") or "")
                texts.append(obj.get("text") or "")
                rows.append(row)
                row += 1
                if len(ids) == size:
                    yield ids, titles, texts, np.ascontiguousarray(vecs[rows], dtype=np.float32)
                    ids, titles, texts, rows = [], [], [], []
        if row != vecs.shape[0]:
            sys.exit(f"{corpus} has {row} records but {vectors} has {vecs.shape[0]} rows")
    if ids:
        yield ids, titles, texts, np.ascontiguousarray(vecs[rows], dtype=np.float32)


def ingest_lancedb(root, corpus, vectors, repeat):
    import lancedb
    import pyarrow as pa
    schema = pa.schema([("id", pa.string()), ("title", pa.string()), ("text", pa.string()),
                        ("vector", pa.list_(pa.float32(), DIM))])
    t0 = time.perf_counter()
    db, table = lancedb.connect(root), None
    for ids, titles, texts, vecs in batches(corpus, vectors, repeat, BATCH):
        vector = pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1), pa.float32()), DIM)
        data = pa.Table.from_arrays([pa.array(ids, pa.string()), pa.array(titles, pa.string()),
                                     pa.array(texts, pa.string()), vector], schema=schema)
        if table is None:
            table = db.create_table("c", data=data, schema=schema)
        else:
            table.add(data)
    seconds = time.perf_counter() - t0
    return seconds, table.count_rows()


def ingest_chroma(root, corpus, vectors, repeat):
    import chromadb
    from chromadb.config import Settings
    t0 = time.perf_counter()
    client = chromadb.PersistentClient(path=root, settings=Settings(anonymized_telemetry=False))
    col = client.get_or_create_collection("bench", metadata={"hnsw:space": "cosine"},
                                          embedding_function=None)
    size = min(BATCH, client.get_max_batch_size())
    for ids, titles, texts, vecs in batches(corpus, vectors, repeat, size):
        col.add(ids=ids, documents=texts, embeddings=vecs, metadatas=[{"title": t} for t in titles])
    seconds = time.perf_counter() - t0
    return seconds, col.count()


def dir_bytes(root):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)


def child(system, args):
    root = tempfile.mkdtemp(prefix=f"ingest-{system}-")
    try:
        fn = {"lancedb": ingest_lancedb, "chroma": ingest_chroma}[system]
        seconds, count = fn(root, args.corpus, args.vectors, args.repeat)
        print(json.dumps({"seconds": seconds, "documents": count, "store_bytes": dir_bytes(root)}))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_child(system, args):
    cmd = [sys.executable, os.path.abspath(__file__), args.corpus, args.vectors,
           "--repeat", str(args.repeat), "--child", system]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)  # this child's own rusage (ru_maxrss in KiB on Linux)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{system} child failed with exit code {p.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("vectors")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", default="lancedb,chroma")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args)

    input_mb = os.path.getsize(args.corpus) * args.repeat / 1e6
    systems = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(systems) - set(NOTES)
    if unknown:
        sys.exit(f"unknown system(s): {', '.join(sorted(unknown))}")
    rows = []
    for system in systems:
        try:
            res, rss_mb = run_child(system, args)
        except Exception as e:  # report and carry on with the other system
            print(f"{system}: {e}", file=sys.stderr)
            continue
        s, n = res["seconds"], res["documents"]
        rec = {"system": system, "documents": n, "input_mb": round(input_mb, 1),
               "seconds": round(s, 2), "mb_per_s": round(input_mb / s, 1),
               "docs_per_s": round(n / s), "peak_rss_mb": round(rss_mb, 1),
               "store_mb": round(res["store_bytes"] / 1e6, 1), "note": NOTES[system]}
        print(json.dumps(rec), flush=True)
        rows.append(rec)

    cols = ["system", "documents", "input_mb", "seconds", "mb_per_s", "docs_per_s", "peak_rss_mb", "store_mb"]
    print("  ".join(f"{c:>11}" for c in cols), file=sys.stderr)
    for r in rows:
        print("  ".join(f"{r[c]:>11}" for c in cols), file=sys.stderr)
    for r in rows:
        print(f"  {r['system']}: {r['note']}", file=sys.stderr)


if __name__ == "__main__":
    main()
