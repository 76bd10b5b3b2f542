#!/usr/bin/env bash
# The README's first Quick-start command: set up, build release, import the sample corpus
# shipped in samples/, show what is in the database, and end with a hybrid query (BM25
# proposes, MiniLM vectors verify) and its plan.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-system.sh
echo "== building ragdb (release)" >&2
swift build -c release --product ragdb 2>&1 | grep -E "error|warning: unre|Compiling ragdb|Build complete" >&2 || true
ragdb="$(swift build -c release --show-bin-path)/ragdb"
test -x "$ragdb" || { echo "build failed" >&2; exit 1; }

db=sample.ragdb
rm -rf "$db"
echo "== $ragdb init $db" >&2
"$ragdb" init "$db"
echo "== $ragdb import $db --collection samples --ngram-index lowercase samples/corpus.jsonl" >&2
"$ragdb" import "$db" --collection samples --ngram-index lowercase samples/corpus.jsonl
echo "== $ragdb stats $db" >&2
"$ragdb" stats "$db"
echo "== $ragdb collections $db" >&2
"$ragdb" collections "$db"
echo "== $ragdb get $db --collection samples --doc ir/bm25" >&2
"$ragdb" get "$db" --collection samples --doc ir/bm25 | head -12
echo "== $ragdb search $db --collection samples --text 'how do readers avoid locks?' --k 3" >&2
"$ragdb" search "$db" --collection samples --text "how do readers avoid locks?" --k 3
echo "== $ragdb ngram next $db --collection samples ' page' --k 5" >&2
"$ragdb" ngram next "$db" --collection samples " page" --k 5
echo "== $ragdb ngram search $db --collection samples 'pages are never overwritten' --k 3" >&2
"$ragdb" ngram search "$db" --collection samples "pages are never overwritten" --k 3
echo "== $ragdb check $db" >&2
"$ragdb" check "$db"
# One chunk per article with its all-MiniLM-L6-v2 vector (samples/corpus.npy; the query
# vectors are samples/queries.npy, row 1 = queries.jsonl's q2).
echo "== $ragdb import $db --collection articles --chunker none --vectors minilm=samples/corpus.npy samples/corpus.jsonl" >&2
"$ragdb" import "$db" --collection articles --chunker none --vectors minilm=samples/corpus.npy samples/corpus.jsonl
q2="How can many readers see a consistent view of the data without locking while one writer commits?"
echo "== $ragdb search $db --collection articles --mode hybrid --text '$q2' --vector @samples/queries.npy:1 --where \"topic = 'databases'\" --k 3 --analyze" >&2
"$ragdb" search "$db" --collection articles --mode hybrid --text "$q2" --vector @samples/queries.npy:1 --where "topic = 'databases'" --k 3 --analyze
echo "== the same query in ragdb shell, with EXPLAIN" >&2
"$ragdb" shell "$db" <<SQL
SELECT doc, score, stages FROM articles
  WHERE MATCH('$q2') AND NEAR(minilm, '@samples/queries.npy:1') AND topic = 'databases'
  LIMIT 3;
EXPLAIN SELECT doc, score FROM articles
  WHERE MATCH('$q2') AND NEAR(minilm, '@samples/queries.npy:1') AND topic = 'databases'
  LIMIT 3;
SQL
