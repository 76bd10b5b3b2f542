#!/usr/bin/env python3
"""Writes CORPUS repeated K times (ids suffixed with #k) and its vectors repeated alike.

Usage: make_repeated.py CORPUS.jsonl VECTORS.npy K OUT.jsonl OUT.npy
Used by run-import.sh to show that import memory does not grow with input size.
"""
import json
import sys

import numpy as np

corpus, vectors, k, out_jsonl, out_npy = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
lines = open(corpus, encoding="utf-8").read().splitlines()
with open(out_jsonl, "w", encoding="utf-8") as out:
    for rep in range(k):
        for line in lines:
            obj = json.loads(line)
            obj["id"] = f"{obj['id']}#{rep}"
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
v = np.load(vectors)
np.save(out_npy, np.concatenate([v] * k))
