#!/usr/bin/env bash
# Planner benchmarks (issue 7): budgeted context assembly against top-k truncation on the
# development sets, and filtered dense recall at 1 %, 10 % and 50 % selectivity on 100,000
# MiniLM-like vectors (Benchmarks/peers/make_vectors.py), both through `ragdb search`.
#
# Usage: Benchmarks/run-planner.sh [VEC_DIR]   (VEC_DIR default /tmp/vec100k, made when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
data=../shared/data
[ -d "$data/manpages-dev" ] || { echo "skip: $data not found" >&2; exit 0; }
py=/root/.cache/ragdb-peers/bin/python
[ -x "$py" ] || py=python3
vec=${1:-/tmp/vec100k}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
swift build -c release >/dev/null
ragdb="$(swift build -c release --show-bin-path)/ragdb"

echo "## budgeted assembly: relevant documents captured"
"$ragdb" import "$work/man" --collection man --chunk-size 128 --chunk-overlap 16 "$data/manpages-dev/corpus.jsonl" >/dev/null 2>&1
"$ragdb" import "$work/cla" --collection cla --chunker none --vectors "minilm=$data/classic-dev/corpus.npy" "$data/classic-dev/corpus.jsonl" >/dev/null 2>&1
for budget in 256 512 1024 2048; do
  for pack in greedy truncate; do
    "$ragdb" search "$work/man" --collection man --queries "$data/manpages-dev/queries.jsonl" --budget $budget --pack $pack --candidates 50 --no-text > "$work/man.jsonl"
    echo "manpages-dev bm25 budget $budget $pack $("$py" Benchmarks/planner_score.py capture "$data/manpages-dev/qrels.tsv" "$work/man.jsonl")"
    "$ragdb" search "$work/cla" --collection cla --mode hybrid --queries "$data/classic-dev/queries.jsonl" --query-vectors "$data/classic-dev/queries.npy" \
      --budget $budget --pack $pack --candidates 50 --no-text > "$work/cla.jsonl"
    echo "classic-dev hybrid budget $budget $pack $("$py" Benchmarks/planner_score.py capture "$data/classic-dev/qrels.tsv" "$work/cla.jsonl")"
  done
done

echo "## filtered dense recall@10 against exact filtered search"
if [ ! -f "$vec/corpus.npy" ]; then "$py" Benchmarks/peers/make_vectors.py "$vec" --count 100000 >/dev/null; fi
"$py" Benchmarks/planner_score.py corpus "$vec/corpus.jsonl" "$work/vec.jsonl"
"$ragdb" import "$work/vec" --collection v --chunker none --no-text-index --vectors "e=$vec/corpus.npy" "$work/vec.jsonl" >/dev/null 2>&1
"$ragdb" index "$work/vec" --collection v --codes int8 >/dev/null
for pct in 1 10 50; do
  start=$(date +%s.%N)
  "$ragdb" search "$work/vec" --collection v --mode dense --queries "$vec/queries.jsonl" --query-vectors "$vec/queries.npy" --k 10 --no-text \
    --where "bucket < $pct" > "$work/f$pct.jsonl"
  end=$(date +%s.%N)
  n=$(wc -l < "$work/f$pct.jsonl")
  plan=$("$ragdb" search "$work/vec" --collection v --mode dense --vector "@$vec/queries.npy:0" --where "bucket < $pct" --analyze --no-text | grep -E '^-- filter' || true)
  echo "selectivity $pct% $("$py" Benchmarks/planner_score.py recall "$vec/corpus.npy" "$vec/queries.npy" "$work/f$pct.jsonl" $pct) seconds $(echo "$end - $start" | bc) queries $n"
  echo "  $plan"
done
