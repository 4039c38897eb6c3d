/* Makes every fsync/fdatasync of the process sleep SLOW_FSYNC_US microseconds (default
 * 500) first, to run the `webhooks` bench as on a disk whose flush is slow (network block
 * storage: 0.5-2 ms) on a machine whose own disk flushes in ~0.1 ms. Not part of any
 * build or test.
 *
 *   gcc -shared -fPIC -O2 -o /tmp/slow_fsync.so host/dialsync/benches/slow_fsync.c -ldl
 *   cargo bench -p dialsync --bench webhooks --no-run   # prints the bench executable
 *   SLOW_FSYNC_US=500 LD_PRELOAD=/tmp/slow_fsync.so target/release/deps/webhooks-<hash> --bench
 *
 * (LD_PRELOAD on `cargo bench` itself would slow cargo's own writes too.) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static void slow(void) {
    const char *env = getenv("SLOW_FSYNC_US");
    long us = env ? atol(env) : 500;
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    slow();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    slow();
    return real(fd);
}
