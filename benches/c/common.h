/* What every C reference of benches/ shares: a monotonic clock in ns, and dying loudly. */
#ifndef PYNS_BENCH_COMMON_H
#define PYNS_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

#endif
