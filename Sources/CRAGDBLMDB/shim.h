#ifndef CRAGDBLMDB_SHIM_H
#define CRAGDBLMDB_SHIM_H
// LMDB (OpenLDAP Lightning Memory-Mapped Database), from Debian's liblmdb-dev.
// Only RAGDBStorage imports this module.
#include <lmdb.h>

#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
/// Keeps memory freed by LMDB's write transactions in the process heap. LMDB builds each dirty
/// page (and each multi-page value) in memory from malloc and frees it at commit; glibc serves
/// blocks of 128 KiB and more with mmap and trims the heap top, so the next large write faults
/// every page in again. Raising the mmap threshold to `mmap_threshold` bytes and disabling
/// trimming keeps those pages mapped. Returns 1 when both settings took effect.
static inline int ragdb_retain_freed_heap(int mmap_threshold) {
    int a = mallopt(M_MMAP_THRESHOLD, mmap_threshold);
    int b = mallopt(M_TRIM_THRESHOLD, 0x7FFFFFFF);
    return a == 1 && b == 1;
}
#else
static inline int ragdb_retain_freed_heap(int mmap_threshold) { (void)mmap_threshold; return 0; }
#endif
#endif
