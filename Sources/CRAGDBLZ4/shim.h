#ifndef CRAGDBLZ4_SHIM_H
#define CRAGDBLZ4_SHIM_H
// LZ4 block format, from Debian's liblz4-dev. Only RAGDBStorage imports this module.
#include <lz4.h>
#endif
