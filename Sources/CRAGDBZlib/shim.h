#ifndef CRAGDBZLIB_SHIM_H
#define CRAGDBZLIB_SHIM_H
// zlib, from Debian's zlib1g-dev: gzip-compressed import inputs. Only RAGDBImport uses it.
#include <zlib.h>
#endif
