#!/usr/bin/env bash
# Import throughput and peak memory of `ragdb import` on manpages-dev at two input sizes
# (1x and 4x the corpus), with and without vectors; then the LanceDB and Chroma peers on the
# same data in the same run. Writes JSON lines to stdout.
#
# Usage: Benchmarks/run-import.sh [DATA_DIR]   (default ../shared/data/manpages-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/manpages-dev}
[ -f "$data/corpus.jsonl" ] || { echo "skip: $data/corpus.jsonl not found" >&2; exit 0; }
swift build -c release --product ragdb >/dev/null
ragdb="$(swift build -c release --show-bin-path)/ragdb"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 Benchmarks/make_repeated.py "$data/corpus.jsonl" "$data/corpus.npy" 4 "$work/x4.jsonl" "$work/x4.npy"

run() { # name, then ragdb import arguments
  local name=$1; shift
  rm -rf "$work/db"
  local t0 t1
  t0=$(date +%s.%N)
  python3 Benchmarks/peak_memory.py "$ragdb" import "$work/db" --collection c --quiet --json "$@" > "$work/out" 2> "$work/mem"
  t1=$(date +%s.%N)
  python3 - "$name" "$work/out" "$work/mem" "$t0" "$t1" <<'PY'
import json, sys
name, out, mem, t0, t1 = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
s = json.load(open(out))
m = json.loads(open(mem).read().strip().splitlines()[-1])
mb = s["bytes"] / 1e6
secs = s["seconds"]  # the importer's own clock: reading the first byte to the last commit
print(json.dumps({"system": "ragdb", "workload": name, "documents": s["documents"], "chunks": s["chunks"],
                  "input_mb": round(mb, 1), "seconds": round(secs, 3), "mb_per_s": round(mb / secs, 1),
                  "process_seconds": round(t1 - t0, 3), "docs_per_s": round(s["documents"] / secs),
                  "peak_anon_mib": m["peak_anon_mib"], "peak_file_mib": m["peak_file_mib"], "peak_rss_mib": m["peak_rss_mib"]}))
PY
}
run "1x fixed-128/16 chunks + BM25 index" "$data/corpus.jsonl"
run "4x fixed-128/16 chunks + BM25 index" "$work/x4.jsonl"
run "1x fixed-128/16 chunks, no text index" --no-text-index "$data/corpus.jsonl"
run "4x fixed-128/16 chunks, no text index" --no-text-index "$work/x4.jsonl"
run "1x one chunk/doc + vectors + BM25 index" --chunker none --vectors "minilm=$data/corpus.npy" "$data/corpus.jsonl"
run "1x one chunk/doc + vectors, no text index" --no-text-index --chunker none --vectors "minilm=$data/corpus.npy" "$data/corpus.jsonl"
run "4x one chunk/doc + vectors, no text index" --no-text-index --chunker none --vectors "minilm=$work/x4.npy" "$work/x4.jsonl"

peers=${RAGDB_PEERS_PYTHON:-/root/.cache/ragdb-peers-ingest/bin/python}
if [ -x "$peers" ] && [ -f Benchmarks/peers/ingest_peers.py ]; then
  "$peers" Benchmarks/peers/ingest_peers.py "$data/corpus.jsonl" "$data/corpus.npy"
  "$peers" Benchmarks/peers/ingest_peers.py "$data/corpus.jsonl" "$data/corpus.npy" --repeat 4
else
  echo "skip peers: no $peers (see Benchmarks/peers/README.md)" >&2
fi
