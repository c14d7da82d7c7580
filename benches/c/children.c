/* Raw C reference for the children rows: prog MODE K, prints elapsed ns for K children.
 *   uts          clone(CLONE_NEWUTS) + execve("/bin/true") + waitpid
 *   posix_spawn  posix_spawn("/bin/true") + waitpid (no namespace: the exec floor)
 *   pid-proc     clone(CLONE_NEWPID|CLONE_NEWNS): / made private, fresh /proc mounted, then
 *                execve("/bin/true") as PID 1 (no init) + waitpid
 *   user         clone(CLONE_NEWUSER), the parent writes setgroups/uid_map/gid_map (root
 *                mapped to the caller), tells the child by a pipe; the child exits (no exec)
 *   user-exec    the same, and the child execs /bin/true
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

extern char **environ;
static char *const true_argv[] = {"true", NULL};


/* fork-style clone with namespace flags: returns twice, like fork. */
static pid_t clone_flags(int flags) {
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
}

static void reap(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) < 0) die("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "child failed: %d\n", st);
        exit(1);
    }
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    if (write(fd, text, strlen(text)) < 0) die(path);
    close(fd);
}

static void user_child(int exec_true) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) die("pipe");
    pid_t pid = clone_flags(CLONE_NEWUSER);
    if (pid < 0) die("clone");
    if (pid == 0) {
        char c;
        close(p[1]);
        if (read(p[0], &c, 1) != 1) _exit(1);
        if (exec_true) execve("/bin/true", true_argv, environ);
        _exit(0);
    }
    close(p[0]);
    char path[64], map[64];
    snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
    write_file(path, "deny");
    snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
    snprintf(map, sizeof map, "0 %d 1", geteuid());
    write_file(path, map);
    snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
    snprintf(map, sizeof map, "0 %d 1", getegid());
    write_file(path, map);
    if (write(p[1], "g", 1) != 1) die("write");
    close(p[1]);
    reap(pid);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODE K\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    long k = atol(argv[2]);
    long long t0 = now();
    for (long i = 0; i < k; i++) {
        if (!strcmp(mode, "uts")) {
            pid_t pid = clone_flags(CLONE_NEWUTS);
            if (pid < 0) die("clone");
            if (pid == 0) {
                execve("/bin/true", true_argv, environ);
                _exit(127);
            }
            reap(pid);
        } else if (!strcmp(mode, "posix_spawn")) {
            pid_t pid;
            if (posix_spawn(&pid, "/bin/true", NULL, NULL, true_argv, environ) != 0)
                die("posix_spawn");
            reap(pid);
        } else if (!strcmp(mode, "pid-proc")) {
            pid_t pid = clone_flags(CLONE_NEWPID | CLONE_NEWNS);
            if (pid < 0) die("clone");
            if (pid == 0) {
                if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) _exit(126);
                if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                    _exit(125);
                execve("/bin/true", true_argv, environ);
                _exit(127);
            }
            reap(pid);
        } else if (!strcmp(mode, "user")) {
            user_child(0);
        } else if (!strcmp(mode, "user-exec")) {
            user_child(1);
        } else {
            fprintf(stderr, "unknown mode %s\n", mode);
            return 2;
        }
    }
    printf("%lld\n", now() - t0);
    return 0;
}
