#!/usr/bin/env bash
# Storage benchmark: chunk inserts and warm point gets through ragdb, raw LMDB (C, same
# process), SQLite and LMDB through Python, on the same chunks, in one run.
#
# Usage: Benchmarks/run-storage.sh [CORPUS.jsonl] [CHUNKS]   (defaults: manpages-dev, 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/data/manpages-dev/corpus.jsonl}
chunks=${2:-100000}
[ -f "$corpus" ] || { echo "skip: $corpus not found" >&2; exit 0; }
python3 -c "import lmdb" 2>/dev/null || python3 -m pip install -q lmdb
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 Benchmarks/peers/storage_peers.py --corpus "$corpus" --chunks "$chunks" --only none --dump "$work/chunks.jsonl" 2>/dev/null
RAGDB_BENCHMARKS=1 swift build -c release --product storage-bench >/dev/null
"$(RAGDB_BENCHMARKS=1 swift build -c release --show-bin-path)/storage-bench" "$work/chunks.jsonl" --gets 100000
python3 Benchmarks/peers/storage_peers.py --corpus "$corpus" --chunks "$chunks" --gets 100000
