#!/usr/bin/env bash
# KV-cache store benchmark: put/get GB/s for 1–256 MiB caches next to memcpy and plain files
# in the same run, durable (fsync) and not, and shuffle+LZ4 on real MiniLM keys and values.
#
# Usage: Benchmarks/run-kv.sh [CAPTURE_DIR]
#   CAPTURE_DIR (default /tmp/kvcap) is made by Benchmarks/kvcache/capture_minilm.py when
#   missing (its venv by Benchmarks/kvcache/setup.sh; needs PyPI or a local wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
cap=${1:-/tmp/kvcap}
if [ ! -d "$cap" ]; then
    bash Benchmarks/kvcache/setup.sh >/dev/null
    /root/.cache/ragdb-kv-venv/bin/python Benchmarks/kvcache/capture_minilm.py \
        --corpus ../shared/data/manpages-dev/corpus.jsonl --out "$cap" --chunks 64 --tokens 256 --context 2 >/dev/null
fi
RAGDB_BENCHMARKS=1 swift build -c release --product kv-bench >/dev/null
bench="$(RAGDB_BENCHMARKS=1 swift build -c release --show-bin-path)/kv-bench"
"$bench" "${TMPDIR:-/tmp}/ragdb-kv-bench" --capture "$cap" "${@:2}"
