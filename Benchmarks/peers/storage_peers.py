#!/usr/bin/env python3
"""Storage peers: the ragdb storage workload on SQLite (python sqlite3) and raw LMDB (python lmdb).

Output is one JSON line per system and workload on stdout (compared side by side with ragdb's
Swift storage-bench) and a human-readable table on stderr.

Workload (deterministic; the Swift side reads the same chunks through --dump):

Chunks. N = --chunks (default 100000) chunk texts.
  * With --corpus PATH (JSONL, one {"text": ...} per line): the non-empty `text` fields, in file
    order, joined with "\\n", UTF-8 encoded into one byte stream. From position p, a chunk is the
    next 1000 bytes; if a b" " occurs in the last 200 bytes of that window the cut moves to just
    after the last one (the space ends the chunk); otherwise, while the byte at the cut is a UTF-8
    continuation byte (0x80-0xBF) the cut moves back by one. Fewer than 1000 bytes left: the rest
    is the (short) chunk. At the end of the stream chunking restarts at byte 0 (the corpus
    cycles) until N chunks exist.
  * Without --corpus: random.Random(42) builds a 2,000-word vocabulary (each word 1-3 syllables
    of consonant+vowel, plus a final consonant with probability 1/3; duplicates redrawn), then
    for each chunk draws words with Zipf weights 1/rank (rng.choices, 256 at a time) and joins
    them with " " while the chunk stays <= 1000 bytes.
  Chunk i (0-based) has id i+1, belongs to document "doc-{i // 8}" with ordinal i % 8. A document's
  text is its chunks joined with "\\n", so chunk spans are start = sum(len(bytes)+1) of earlier
  chunks in the document, end = start + len(bytes). tokens = len(text.split()).

Insert. Batches of --batch (default 10000) chunks, each one committed, fully durable transaction.
  Rows/values are built before the clock starts; the time covers begin, writes and commit.
  * SQLite: journal_mode=WAL, synchronous=FULL; table
      chunks(id INTEGER PRIMARY KEY, doc TEXT NOT NULL, ordinal INTEGER NOT NULL,
             start INTEGER NOT NULL, end INTEGER NOT NULL, tokens INTEGER NOT NULL, text TEXT NOT NULL)
    with index chunks_doc(doc, ordinal); BEGIN; executemany(INSERT ...); COMMIT per batch.
  * LMDB: map_size 8 GiB, max_dbs 8, default sync. Named db "chunks": key = id as 8-byte
    big-endian, value = struct '<H' len(doc) | doc UTF-8 | '<H' ordinal | '<I' start | '<I' end |
    '<I' tokens | text UTF-8 (header 16 + len(doc) bytes). Named db "docs": doc id UTF-8 ->
    8-byte big-endian id of the document's first chunk (put with its ordinal-0 chunk).
  Reported: chunks/s and MB/s of text (sum of UTF-8 text bytes / 1e6 / seconds).

Point gets. --gets (default 100000) ids drawn by random.Random(7).randint(1, N), keys
  prepared beforehand. Warm: first one full pass reading every value, then, inside ONE read
  transaction, each get is timed alone with time.perf_counter_ns (LMDB: txn.get(key) and
  len(value); SQLite: cached prepared "SELECT text FROM chunks WHERE id=?" + fetchone, len(text)).
  Reported p50/p99/mean in microseconds, percentile = sorted[min(n-1, int(n*p))], plus
  timer_p50_us: the p50 of the same loop with no get, to subtract.

Databases live in a fresh directory made by tempfile.mkdtemp (inside --dir if given), removed at
the end.
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import struct
import sys
import tempfile
import time

CHUNK_BYTES, SPACE_WINDOW, DOC_CHUNKS = 1000, 200, 8


def corpus_chunks(path, n):
    with open(path, encoding="utf-8") as f:
        texts = [t for t in (json.loads(line).get("text") for line in f if line.strip()) if t]
    data = "\n".join(texts).encode("utf-8")
    out, pos = [], 0
    while len(out) < n:
        if len(data) - pos <= CHUNK_BYTES:
            cut = len(data) - pos
        else:
            cut = CHUNK_BYTES
            space = data.rfind(b" ", pos + CHUNK_BYTES - SPACE_WINDOW, pos + CHUNK_BYTES)
            if space >= 0:
                cut = space + 1 - pos
            else:
                while cut > 0 and 0x80 <= data[pos + cut] <= 0xBF:
                    cut -= 1
        out.append(data[pos:pos + cut].decode("utf-8"))  # strict: a bad cut would raise
        pos = 0 if pos + cut >= len(data) else pos + cut
    return out


def synthetic_chunks(n):
    rng = random.Random(42)
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    vocab, seen = [], set()
    while len(vocab) < 2000:
        w = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(1, 3)))
        if rng.random() < 1 / 3:
            w += rng.choice(consonants)
        if w not in seen:
            seen.add(w)
            vocab.append(w)
    cum, total = [], 0.0
    for rank in range(1, len(vocab) + 1):
        total += 1 / rank
        cum.append(total)
    out = []
    for _ in range(n):
        words, size, full = [], -1, False
        while not full:
            for w in rng.choices(vocab, cum_weights=cum, k=256):
                if size + 1 + len(w) > CHUNK_BYTES:
                    full = True
                    break
                words.append(w)
                size += 1 + len(w)
        out.append(" ".join(words))
    return out


def rows_for(texts):
    """(id, doc, ordinal, start, end, tokens, text, text_bytes) per chunk."""
    rows, offset = [], 0
    for i, t in enumerate(texts):
        b = t.encode("utf-8")
        if i % DOC_CHUNKS == 0:
            offset = 0
        rows.append((i + 1, f"doc-{i // DOC_CHUNKS}", i % DOC_CHUNKS, offset, offset + len(b), len(t.split()), t, b))
        offset += len(b) + 1
    return rows


def pct(sorted_ns, p):
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * p))] / 1000


def empty_loop(ids):
    """The timing loop of the gets with no get: the perf_counter_ns overhead to subtract."""
    ns, empty = time.perf_counter_ns, [0] * len(ids)
    for j, k in enumerate(ids):
        t = ns()
        empty[j] = ns() - t
    return sorted(empty)


def get_record(system, lat, empty, mode):
    lat.sort()
    return {"system": system, "workload": "point-get", "mode": mode, "gets": len(lat),
            "p50_us": pct(lat, 0.5), "p99_us": pct(lat, 0.99),
            "mean_us": sum(lat) / len(lat) / 1000, "timer_p50_us": pct(empty, 0.5)}


def insert_record(system, n, mb, seconds, stored_bytes):
    return {"system": system, "workload": "insert", "chunks": n, "text_mb": mb, "seconds": seconds,
            "chunks_per_s": n / seconds, "mb_per_s": mb / seconds, "file_mb": stored_bytes / 1e6}


def bench_sqlite(root, rows, batch, get_ids, mb):
    path = os.path.join(root, "peers.sqlite")
    conn = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE chunks(id INTEGER PRIMARY KEY, doc TEXT NOT NULL, ordinal INTEGER NOT NULL, "
                 "start INTEGER NOT NULL, end INTEGER NOT NULL, tokens INTEGER NOT NULL, text TEXT NOT NULL)")
    conn.execute("CREATE INDEX chunks_doc ON chunks(doc, ordinal)")
    batches = [[r[:7] for r in rows[s:s + batch]] for s in range(0, len(rows), batch)]
    t0 = time.perf_counter()
    for b in batches:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?)", b)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == len(rows)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    yield insert_record("sqlite", len(rows), mb, seconds, os.path.getsize(path))

    cur = conn.cursor()
    conn.execute("BEGIN")  # one read transaction for warm-up and all gets
    warm = sum(len(t) for (t,) in cur.execute("SELECT text FROM chunks"))
    sql, execute, ns = "SELECT text FROM chunks WHERE id=?", cur.execute, time.perf_counter_ns
    lat, sink = [0] * len(get_ids), 0
    for j, k in enumerate(get_ids):
        t = ns()
        sink += len(execute(sql, (k,)).fetchone()[0])
        lat[j] = ns() - t
    empty = empty_loop(get_ids)
    conn.execute("COMMIT")
    conn.close()
    assert warm > 0 and sink > 0
    yield get_record("sqlite", lat, empty, "one read txn, prepared SELECT text")


def bench_lmdb(root, rows, batch, get_ids, mb):
    import lmdb
    path = os.path.join(root, "peers.lmdb")
    env = lmdb.open(path, map_size=8 << 30, max_dbs=8)
    chunks_db, docs_db = env.open_db(b"chunks"), env.open_db(b"docs")
    items = []
    for (cid, doc, ordinal, start, end, tokens, _, text) in rows:
        d = doc.encode("utf-8")
        key = struct.pack(">Q", cid)
        value = struct.pack("<H", len(d)) + d + struct.pack("<HIII", ordinal, start, end, tokens) + text
        items.append((key, value, d if ordinal == 0 else None))
    batches = [items[s:s + batch] for s in range(0, len(items), batch)]
    t0 = time.perf_counter()
    for b in batches:
        with env.begin(write=True) as txn:
            put = txn.put
            for key, value, doc in b:
                put(key, value, db=chunks_db)
                if doc is not None:
                    put(doc, key, db=docs_db)
    seconds = time.perf_counter() - t0
    assert env.stat()["entries"] == 2 and env.begin(db=chunks_db).stat(chunks_db)["entries"] == len(rows)
    yield insert_record("lmdb-py", len(rows), mb, seconds, os.path.getsize(os.path.join(path, "data.mdb")))

    keys = [struct.pack(">Q", k) for k in get_ids]
    with env.begin(db=chunks_db) as txn:  # one read transaction for warm-up and all gets
        warm = sum(len(v) for _, v in txn.cursor())
        get, ns, lat, sink = txn.get, time.perf_counter_ns, [0] * len(keys), 0
        for j, k in enumerate(keys):
            t = ns()
            sink += len(get(k))
            lat[j] = ns() - t
        empty = empty_loop(keys)
    env.close()
    assert warm > 0 and sink > 0
    yield get_record("lmdb-py", lat, empty, "one read txn, txn.get + len")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", help="JSONL with a text field per line (default: synthetic words)")
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--gets", type=int, default=100_000)
    ap.add_argument("--only", default="sqlite,lmdb", help="comma list of sqlite,lmdb (or none)")
    ap.add_argument("--dir", help="parent for the temporary database directory")
    ap.add_argument("--dump", help="also write the chunks as JSONL {\"text\": ...} (Swift storage-bench input)")
    args = ap.parse_args()
    systems = {s for s in args.only.split(",") if s and s != "none"}
    if systems - {"sqlite", "lmdb"}:
        ap.error(f"unknown system(s) in --only: {','.join(sorted(systems - {'sqlite', 'lmdb'}))}")

    if args.corpus and os.path.exists(args.corpus):
        texts, source = corpus_chunks(args.corpus, args.chunks), args.corpus
    else:
        if args.corpus:
            print(f"corpus {args.corpus} not found; using synthetic words", file=sys.stderr)
        texts, source = synthetic_chunks(args.chunks), "synthetic (Random(42), 2000 words)"
    rows = rows_for(texts)
    mb = sum(len(r[7]) for r in rows) / 1e6
    print(f"{len(rows)} chunks, {mb:.1f} MB of text from {source}", file=sys.stderr)
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as f:
            for t in texts:
                f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    rng = random.Random(7)
    get_ids = [rng.randint(1, len(rows)) for _ in range(args.gets)]

    root = tempfile.mkdtemp(prefix="storage-peers-", dir=args.dir)
    results = []
    try:
        for name, bench in (("sqlite", bench_sqlite), ("lmdb", bench_lmdb)):
            if name in systems:
                for rec in bench(root, rows, args.batch, get_ids, mb):
                    print(json.dumps(rec, sort_keys=True), flush=True)
                    results.append(rec)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    if not results:
        return
    print(f"\n{'system':<9} {'insert chunks/s':>15} {'MB/s':>7} {'s':>7} {'file MB':>8}", file=sys.stderr)
    for r in (r for r in results if r["workload"] == "insert"):
        print(f"{r['system']:<9} {r['chunks_per_s']:>15,.0f} {r['mb_per_s']:>7.1f} {r['seconds']:>7.2f} "
              f"{r['file_mb']:>8.1f}", file=sys.stderr)
    print(f"\n{'system':<9} {'gets':>7} {'p50 us':>8} {'p99 us':>8} {'mean us':>8} {'timer p50':>9}", file=sys.stderr)
    for r in (r for r in results if r["workload"] == "point-get"):
        print(f"{r['system']:<9} {r['gets']:>7} {r['p50_us']:>8.2f} {r['p99_us']:>8.2f} {r['mean_us']:>8.2f} "
              f"{r['timer_p50_us']:>9.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
