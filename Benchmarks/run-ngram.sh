#!/usr/bin/env bash
# N-gram FM-index benchmark on ~130 MB of real English text (../shared/bench/make_bigtext.sh):
# build throughput and peak memory, index size against the text, count/locate/next times, and
# grep -c -F and sdsl-lite (Debian libsdsl-dev, Benchmarks/sdsl) on the same patterns in the same run.
#
# Usage: Benchmarks/run-ngram.sh [BIGTEXT_DIR]   (default ~/.cache/ragdb-bigtext, built when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
big=${1:-$HOME/.cache/ragdb-bigtext}
if [ ! -f "$big/docs.jsonl" ]; then
    [ -x ../shared/bench/make_bigtext.sh ] || { echo "skip: ../shared/bench/make_bigtext.sh not found" >&2; exit 0; }
    bash ../shared/bench/make_bigtext.sh "$big" >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
swift build -c release >/dev/null
RAGDB_BENCHMARKS=1 swift build -c release --product ngram-bench >/dev/null
ragdb="$(swift build -c release --show-bin-path)/ragdb"
bench="$(RAGDB_BENCHMARKS=1 swift build -c release --show-bin-path)/ngram-bench"
db="$work/db"
timed() { local t0; t0=$(date +%s.%N); python3 Benchmarks/peak_memory.py "$@"; echo "elapsed $(echo "$(date +%s.%N) - $t0" | bc) s"; }
echo "## import without n-gram index (chunks stored only), for reference"
timed "$ragdb" import "$work/plain" --collection t --chunker none --no-text-index --quiet "$big/docs.jsonl"
echo "## import with --ngram-index (chunks stored, then one segment built)"
timed "$ragdb" import "$db" --collection t --chunker none --no-text-index --ngram-index lowercase --quiet "$big/docs.jsonl"
echo "## segment rebuild alone (ragdb compact: read every chunk, SA-IS, write)"
timed "$ragdb" compact "$db" --collection t
"$ragdb" stats "$db" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
t = {x["name"]: x for x in d["tables"]}
c = d["collections"][0]
seg = t["ngram_segments"]["bytes"]
text = c["text_bytes"]
print(f"text bytes {text:,}; ngram_segments {seg:,} bytes = {seg / text:.3f} x text")'
echo "## queries"
"$bench" "$db" t "$big/bigtext.txt" --patterns 2000 --dump "$work/patterns.txt"
python3 - "$big/bigtext.txt" "$work/patterns.txt" <<'PY'
import subprocess, sys, time
text, pats = sys.argv[1], open(sys.argv[2]).read().split("\n")[:40]
t = time.perf_counter()
for p in pats:
    subprocess.run(["grep", "-c", "-F", "--", p, text], stdout=subprocess.DEVNULL)
s = (time.perf_counter() - t) / len(pats)
print(f"grep -c -F: {s * 1e6:,.0f} us per pattern ({len(pats)} patterns, {sum(map(len, pats)) / len(pats):.1f} bytes average)")
PY
echo "## sdsl-lite csa_wt<> on the same text (lowercased) and patterns"
if command -v g++ >/dev/null && [ -f /usr/include/sdsl/suffix_arrays.hpp ]; then
  g++ -O3 -march=native -std=c++17 -o "$work/sdsl_bench" Benchmarks/sdsl/sdsl_bench.cpp -lsdsl -ldivsufsort -ldivsufsort64
  "$work/sdsl_bench" "$big/bigtext.txt" "$work/patterns.txt"
else
  echo "skip: sdsl-lite not installed (apt-get install libsdsl-dev)"
fi
