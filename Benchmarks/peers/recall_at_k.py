#!/usr/bin/env python3
"""recall@k of one ragdb batch-search output against another (the exact one): RUN.jsonl EXACT.jsonl [K]."""
import json, sys
def load(p):
    return {o["query_id"]: [r["chunk"] for r in o["results"]] for o in map(json.loads, open(p))}
a, b = load(sys.argv[1]), load(sys.argv[2])
k = int(sys.argv[3]) if len(sys.argv) > 3 else 10
print("recall@%d vs exact: %.4f" % (k, sum(len(set(a[q][:k]) & set(b[q][:k])) for q in a) / (k * len(a))))
