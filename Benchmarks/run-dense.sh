#!/usr/bin/env bash
# Dense benchmark, all in one run on one data set: ragdb's exact scan (LMDB-resident and the bare
# kernels in memory) and its coarse-then-verify plans with int8, PQ and 1-bit codes, next to faiss
# (IndexFlatIP, IVF-PQ) and hnswlib on the same vectors, single-threaded. Prints markdown tables.
#
# Usage: Benchmarks/run-dense.sh [DATASET_DIR]
#   DATASET_DIR holds corpus.npy, corpus.jsonl, queries.npy, queries.jsonl (the shared/data sets).
#   Without it: 100,000 vectors made from the shared MiniLM vectors by peers/make_vectors.py --split.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${RAGDB_PEERS_VENV:-$HOME/.cache/ragdb-peers}
[ -d ../shared/data ] || { echo "skip: ../shared/data not found" >&2; exit 0; }
[ -x "$venv/bin/python" ] || ../shared/bench/setup.sh "$venv"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=${1:-}
if [ -z "$data" ]; then
    "$venv/bin/python" Benchmarks/peers/make_vectors.py "$work/vectors" --count 100000 --split >/dev/null
    data="$work/vectors"
fi
swift build -c release >/dev/null
RAGDB_BENCHMARKS=1 swift build -c release --product dense-bench >/dev/null
bin=$(swift build -c release --show-bin-path)
benchbin=$(RAGDB_BENCHMARKS=1 swift build -c release --show-bin-path)
ragdb="$bin/ragdb"
db="$work/db"
"$ragdb" import "$db" --collection v --chunker none --no-text-index --vectors "e=$data/corpus.npy" "$data/corpus.jsonl" >/dev/null 2>&1
search() { "$ragdb" search "$db" --collection v --queries "$data/queries.jsonl" --query-vectors "$data/queries.npy" --k 10 --no-text --timing "$@"; }
search --exact > "$work/exact.jsonl" 2> "$work/exact.timing"
"$benchbin/dense-bench" "$data/corpus.npy" "$data/queries.npy" > "$work/kernels.json"
runs=()
for spec in "int8 30 30" "int8 60 30" "int8 120 50" "pq 30 100" "pq 30 200" "pq 60 200" "binary 30 100" "binary 30 200" "binary 60 400"; do
    set -- $spec
    if [ ! -f "$work/index-$1.json" ]; then "$ragdb" index "$db" --collection v --codes "$1" --json > "$work/index-$1.json"; fi
    name="$1-p$2-c$3"
    search --probes "$2" --candidates "$3" > "$work/$name.jsonl" 2> "$work/$name.timing"
    runs+=("$name")
done
"$venv/bin/python" Benchmarks/peers/dense_peers.py "$data" --json "$work/peers.json" > "$work/peers.md"
python3 Benchmarks/peers/dense_report.py "$work" "${runs[@]}"
echo
cat "$work/peers.md"
