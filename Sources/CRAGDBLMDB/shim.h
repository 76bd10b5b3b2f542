#ifndef CRAGDBLMDB_SHIM_H
#define CRAGDBLMDB_SHIM_H
// LMDB (OpenLDAP Lightning Memory-Mapped Database), from Debian's liblmdb-dev.
// Only RAGDBStorage imports this module.
#include <lmdb.h>
#endif
