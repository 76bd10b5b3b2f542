// The ragdb executable: all logic lives in RAGDBCLI so it can be tested.
import RAGDB
import RAGDBCLI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// LMDB frees every dirty page at commit; keeping that memory in the heap makes large puts and
// imports of tens of MiB 3–4× faster without fsync (BENCHMARKS.md, "KV-cache store").
Database.retainFreedHeap()
exit(runRAGDB(Array(CommandLine.arguments.dropFirst())))
