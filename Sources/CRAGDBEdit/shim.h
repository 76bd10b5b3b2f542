#ifndef CRAGDBEDIT_SHIM_H
#define CRAGDBEDIT_SHIM_H
// libedit (BSD editline), from Debian's libedit-dev: line editing and history for
// `ragdb shell` on a terminal. Only RAGDBCLI's LineReader uses it.
#include <stdio.h>
#include <editline/readline.h>
#endif
