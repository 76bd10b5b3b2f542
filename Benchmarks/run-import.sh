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
  /usr/bin/time -f "%e %M" -o "$work/time" "$ragdb" import "$work/db" --collection c --quiet --json "$@" > "$work/out"
  read -r secs kb < "$work/time"
  python3 - "$name" "$work/out" "$secs" "$kb" <<'PY'
import json, sys
name, out, secs, kb = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
s = json.load(open(out))
mb = s["bytes"] / 1e6
print(json.dumps({"system": "ragdb", "workload": name, "documents": s["documents"], "chunks": s["chunks"],
                  "input_mb": round(mb, 1), "seconds": secs, "mb_per_s": round(mb / secs, 1),
                  "docs_per_s": round(s["documents"] / secs), "peak_rss_mb": round(kb / 1024, 1)}))
PY
}
run "1x fixed-128/16 chunks" "$data/corpus.jsonl"
run "4x fixed-128/16 chunks" "$work/x4.jsonl"
run "1x one chunk/doc + vectors" --chunker none --vectors "minilm=$data/corpus.npy" "$data/corpus.jsonl"
run "4x one chunk/doc + vectors" --chunker none --vectors "minilm=$work/x4.npy" "$work/x4.jsonl"

peers=${RAGDB_PEERS_PYTHON:-/root/.cache/ragdb-peers-ingest/bin/python}
if [ -x "$peers" ] && [ -f Benchmarks/peers/ingest_peers.py ]; then
  "$peers" Benchmarks/peers/ingest_peers.py "$data/corpus.jsonl" "$data/corpus.npy"
else
  echo "skip peers: no $peers (see Benchmarks/peers/README.md)" >&2
fi
