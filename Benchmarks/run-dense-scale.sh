#!/usr/bin/env bash
# Dense search at 1,000,000 × 384: import, exact ground truth (200 queries), int8 and 1-bit IVF
# indexes, recall@10 and latency at several probe/candidate settings. Needs ../shared/data for
# the seed vectors and the peer venv for make_vectors.py; ~6 minutes and 3 GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d ../shared/data ] || { echo "skip: ../shared/data not found" >&2; exit 0; }
P=${RAGDB_PEERS_VENV:-$HOME/.cache/ragdb-peers}/bin/python
swift build -c release >/dev/null
R=.build/release/ragdb
V=/tmp/vec1m
[ -f $V/corpus.npy ] || $P Benchmarks/peers/make_vectors.py $V --count 1000000 --split > /dev/null
head -200 $V/queries.jsonl > $V/q200.jsonl
$P -c "import numpy as np; q=np.load('$V/queries.npy')[:200]; np.save('$V/q200.npy', q)"
rm -rf /tmp/db1m
t0=$(date +%s.%N); $R import /tmp/db1m --collection v --chunker none --no-text-index --quiet --vectors e=$V/corpus.npy $V/corpus.jsonl; echo "import $(echo "$(date +%s.%N) - $t0" | bc) s"
$R search /tmp/db1m --collection v --queries $V/q200.jsonl --query-vectors $V/q200.npy --k 10 --exact --no-text --timing > /tmp/e1m.jsonl 2> /tmp/e1m.timing; echo "exact: $(cat /tmp/e1m.timing)"
for codes in int8 binary; do
  python3 Benchmarks/peak_memory.py $R index /tmp/db1m --collection v --codes $codes
  for spec in "32 30" "64 30" "128 50" "32 200" "64 400"; do set -- $spec
    $R search /tmp/db1m --collection v --queries $V/q200.jsonl --query-vectors $V/q200.npy --k 10 --no-text --timing --probes $1 --candidates $2 > /tmp/a1m.jsonl 2> /tmp/a1m.timing
    echo "$codes probes $1 cand $2: $(python3 Benchmarks/peers/recall_at_k.py /tmp/a1m.jsonl /tmp/e1m.jsonl) $(python3 -c "import json; t=json.load(open('/tmp/a1m.timing')); print('q/s %.0f p50 %.0f us p99 %.0f us resident %.1f MiB load %.2f s' % (t['queries_per_s'], t['p50_us'], t['p99_us'], t['dense_resident_bytes']/2**20, t['load_seconds']))")"
  done
done
