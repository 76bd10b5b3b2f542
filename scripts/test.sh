#!/usr/bin/env bash
# The README's second Quick-start command, and what CI runs: the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-system.sh
# The cross-language format test reads a database with Python's lmdb, lz4 and xxhash
# (it skips itself when they cannot be installed).
python3 -c "import lmdb, lz4.block, xxhash" 2>/dev/null \
  || python3 -m pip install -q lmdb lz4 xxhash >/dev/null 2>&1 \
  || echo "note: Python lmdb/lz4/xxhash unavailable; the format-reader test will skip" >&2
swift build --build-tests
swift test
