#!/usr/bin/env python3
"""Scores ragdb's planner outputs for BENCHMARKS.md.

  planner_score.py capture QRELS RUN.jsonl   share of each query's relevant documents that appear
                                             among the chunks of its packed context (mean over
                                             queries with judgments); prints JSON
  planner_score.py recall CORPUS.npy QUERIES.npy RUN.jsonl PERCENT [K]
                                             recall@K of a filtered dense run against exact
                                             filtered search (numpy), metadata bucket = row % 100,
                                             filter bucket < PERCENT
  planner_score.py corpus CORPUS.jsonl OUT.jsonl   adds {"metadata": {"bucket": row % 100}}
"""
import json, sys

def capture(qrels, run):
    rel = {}
    for line in open(qrels):
        q, d, g = line.rstrip("\n").split("\t")[:3]
        if int(g) > 0: rel.setdefault(q, set()).add(d)
    shares, chunks, docs = [], [], []
    for line in open(run):
        o = json.loads(line)
        r = rel.get(o["query_id"])
        if not r: continue
        got = {h["doc"] for h in o["results"]}
        shares.append(len(got & r) / len(r))
        chunks.append(len(o["results"])); docs.append(len(got))
    n = len(shares)
    print(json.dumps({"queries": n, "captured": sum(shares) / n, "any_relevant": sum(1 for s in shares if s > 0) / n,
                      "chunks_per_query": sum(chunks) / n, "docs_per_query": sum(docs) / n}))

def recall(corpus, queries, run, percent, k=10):
    import numpy as np
    X = np.load(corpus); Q = np.load(queries)
    allowed = np.arange(len(X)) % 100 < percent
    ids = np.nonzero(allowed)[0]
    S = Q @ X[ids].T
    truth = [set(ids[np.argsort(-row)[:k]]) for row in S]
    total, n = 0.0, 0
    for i, line in enumerate(open(run)):
        o = json.loads(line)
        got = {int(h["doc"][1:]) - 1 for h in o["results"][:k]}   # make_vectors names row r "v" + (r + 1), 6 digits
        total += len(got & truth[i]) / k; n += 1
    print(json.dumps({"percent": percent, "queries": n, "recall_at_10": total / n}))

def corpus_with_buckets(src, out):
    with open(out, "w") as f:
        for i, line in enumerate(open(src)):
            o = json.loads(line); o["metadata"] = {"bucket": i % 100}
            f.write(json.dumps(o) + "\n")

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "capture": capture(sys.argv[2], sys.argv[3])
    elif cmd == "recall": recall(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]) if len(sys.argv) > 6 else 10)
    elif cmd == "corpus": corpus_with_buckets(sys.argv[2], sys.argv[3])
    else: sys.exit(__doc__)
