/* Raw C reference for the in-process rows: prog MODE [PATH] K, prints elapsed ns for K ops.
 *   uts | net      save the thread's namespace (ioctl PIDFD_GET_*_NAMESPACE on the thread's
 *                  pidfd, as pyns does), unshare a new one, setns back, close
 *   uts-proc       the same, saving by open("/proc/thread-self/ns/uts")
 *   uts-kept       the same with the saved fd opened once, outside the loop
 *   switch PATH    setns into the netns at PATH and back, both fds open all along
 *   switch-save PATH  the same, saving the current netns each time (as a `with` must)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define PIDFD_THREAD O_EXCL
#define PIDFD_GET_NET_NAMESPACE _IO(0xFF, 4)
#define PIDFD_GET_UTS_NAMESPACE _IO(0xFF, 10)


int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODE [PATH] K\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    long k = atol(argv[argc - 1]);
    int self = syscall(SYS_pidfd_open, gettid(), PIDFD_THREAD);
    if (self < 0) die("pidfd_open");
    long long t0 = now();
    if (!strcmp(mode, "uts") || !strcmp(mode, "net")) {
        int uts = mode[0] == 'u';
        int flag = uts ? CLONE_NEWUTS : CLONE_NEWNET;
        unsigned long req = uts ? PIDFD_GET_UTS_NAMESPACE : PIDFD_GET_NET_NAMESPACE;
        for (long i = 0; i < k; i++) {
            int fd = ioctl(self, req, 0);
            if (fd < 0) die("ioctl");
            if (unshare(flag) < 0) die("unshare");
            if (setns(fd, flag) < 0) die("setns");
            close(fd);
        }
    } else if (!strcmp(mode, "uts-proc")) {
        for (long i = 0; i < k; i++) {
            int fd = open("/proc/thread-self/ns/uts", O_RDONLY | O_CLOEXEC);
            if (fd < 0) die("open");
            if (unshare(CLONE_NEWUTS) < 0) die("unshare");
            if (setns(fd, CLONE_NEWUTS) < 0) die("setns");
            close(fd);
        }
    } else if (!strcmp(mode, "uts-kept")) {
        int fd = open("/proc/thread-self/ns/uts", O_RDONLY | O_CLOEXEC);
        if (fd < 0) die("open");
        t0 = now();
        for (long i = 0; i < k; i++) {
            if (unshare(CLONE_NEWUTS) < 0) die("unshare");
            if (setns(fd, CLONE_NEWUTS) < 0) die("setns");
        }
    } else if ((!strcmp(mode, "switch") || !strcmp(mode, "switch-save")) && argc == 4) {
        int save = !strcmp(mode, "switch-save");
        int target = open(argv[2], O_RDONLY | O_CLOEXEC);
        int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (target < 0 || home < 0) die("open");
        t0 = now();
        for (long i = 0; i < k; i++) {
            int back = save ? ioctl(self, PIDFD_GET_NET_NAMESPACE, 0) : home;
            if (back < 0) die("ioctl");
            if (setns(target, CLONE_NEWNET) < 0) die("setns target");
            if (setns(back, CLONE_NEWNET) < 0) die("setns back");
            if (save) close(back);
        }
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    printf("%lld\n", now() - t0);
    return 0;
}
