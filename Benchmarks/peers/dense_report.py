#!/usr/bin/env python3
"""Tables for Benchmarks/run-dense.sh: ragdb's dense figures from one run's work folder.

Usage: dense_report.py WORK RUN...   (RUN: a name with WORK/RUN.jsonl and WORK/RUN.timing)
"""
import json
import os
import sys


def chunks(path):
    return {o["query_id"]: [r["chunk"] for r in o["results"]] for o in map(json.loads, open(path))}


def main(work, runs):
    exact = chunks(os.path.join(work, "exact.jsonl"))
    timing = json.load(open(os.path.join(work, "exact.timing")))
    kernels = json.load(open(os.path.join(work, "kernels.json")))
    peers = json.load(open(os.path.join(work, "peers.json")))
    flat = [r for r in peers["records"] if r.get("system") == "faiss IndexFlatIP"]
    n, d = kernels["vectors"], kernels["dimensions"]
    gflop = 2 * n * d / 1e9
    print(f"Exact search, {n:,} × {d} float32, {kernels['queries']:,} queries, one thread, kernels {kernels['kernels']}:\n")
    print("| system | queries/s | GFLOP/s |")
    print("| --- | --- | --- |")
    print(f"| ragdb kernel, in memory, one query per call | {kernels['single_queries_per_s']:,.0f} | {kernels['single_gflops']:.1f} |")
    print(f"| ragdb kernel, in memory, batch (4×4 tiles) | {kernels['batch_queries_per_s']:,.0f} | {kernels['batch_gflops']:.1f} |")
    print(f"| ragdb `search --exact`, vectors read in place from LMDB | {timing['queries_per_s']:,.0f} | {timing['queries_per_s'] * gflop:.1f} |")
    for r in flat:
        print(f"| {r['system']} {r.get('params', '')} | {r['qps']:,.0f} | {r.get('gflops', 0):.1f} |")
    print(f"\nCoarse then verify (recall@10 against ragdb's exact search):\n")
    print("| codes | probes | candidates | recall@10 | queries/s | resident MiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for run in runs:
        got = chunks(os.path.join(work, run + ".jsonl"))
        t = json.load(open(os.path.join(work, run + ".timing")))
        codes, probes, cand = run.split("-")
        recall = sum(len(set(got[q][:10]) & set(exact[q][:10])) for q in exact) / (10 * len(exact))
        print(f"| {codes} | {probes[1:]} | {cand[1:]} | {recall:.4f} | {t['queries_per_s']:,.0f} | {t['dense_resident_bytes'] / 2**20:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
