/* Raw C reference for the networking rows: prog MODE [ARG] K, prints elapsed ns for K ops.
 * One NETLINK_ROUTE socket, requests built by hand, each answered before the next.
 *   addaddr            add K IPv4 /32 addresses to lo (index 1) of the caller's netns
 *   lookup NAME        RTM_GETLINK of the link NAME, K times (socket open all along)
 *   dump               RTM_GETLINK dump of every link, K times
 *   handle PATH        open the netns at PATH, setns there, socket, setns back (saving where
 *                      the thread was by pidfd), one RTM_GETLINK of lo, close: K times
 *   netns PREFIX       ip netns add/del PREFIX-i, the way iproute2 does: /run/netns made a
 *                      shared mount, file created, unshare(CLONE_NEWNET), bind mount, back;
 *                      then umount2(MNT_DETACH) + unlink
 *   pair               two new netns; a veth with one end born in each; 10.0.0.1/24 and
 *                      10.0.0.2/24; both ends up; torn down by closing the netns fds
 *   chain              a K-host chain, what Topology.host + link do per host: a new netns
 *                      (lo up, held by an fd until exit, a socket inside until the next
 *                      host is linked); a veth from the previous host, its peer born in the
 *                      new one; a /24 address at each end, both up
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define PIDFD_THREAD O_EXCL
#define PIDFD_GET_NET_NAMESPACE _IO(0xFF, 4)


struct req {
    struct nlmsghdr h;
    char buf[4096];
};

static unsigned seq;
static char answer[65536];

static void *tail(struct nlmsghdr *h) { return (char *)h + NLMSG_ALIGN(h->nlmsg_len); }

static struct rtattr *attr(struct nlmsghdr *h, int type, const void *data, int len) {
    struct rtattr *a = tail(h);
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(len);
    if (len) {
        if (data)
            memcpy(RTA_DATA(a), data, len);
        else
            memset(RTA_DATA(a), 0, len);
    }
    h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
    return a;
}

static void nest_end(struct nlmsghdr *h, struct rtattr *a) { a->rta_len = (char *)tail(h) - (char *)a; }

static void *start(struct req *r, int type, int flags, size_t hdr) {
    memset(r, 0, sizeof(struct nlmsghdr) + hdr);
    r->h.nlmsg_len = NLMSG_LENGTH(hdr);
    r->h.nlmsg_type = type;
    r->h.nlmsg_flags = NLM_F_REQUEST | flags;
    r->h.nlmsg_seq = ++seq;
    return NLMSG_DATA(&r->h);
}

/* Sends and reads until the ACK / single answer / DONE; returns the first answer's index. */
static int talk(int s, struct req *r) {
    if (send(s, r, r->h.nlmsg_len, 0) < 0) die("send");
    int index = 0;
    for (;;) {
        int n = recv(s, answer, sizeof answer, 0);
        if (n < 0) die("recv");
        for (struct nlmsghdr *h = (void *)answer; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != r->h.nlmsg_seq) continue;
            if (h->nlmsg_type == NLMSG_ERROR) {
                int e = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
                if (e) {
                    errno = -e;
                    die("netlink");
                }
                return index;
            }
            if (h->nlmsg_type == NLMSG_DONE) return index;
            if (h->nlmsg_type == RTM_NEWLINK && !index) {
                index = ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
                if (!(h->nlmsg_flags & NLM_F_MULTI)) return index;
            }
        }
    }
}

static int nl_socket(void) {
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0) die("socket");
    return s;
}

static int getlink(int s, const char *name) {
    struct req r;
    start(&r, RTM_GETLINK, 0, sizeof(struct ifinfomsg));
    attr(&r.h, IFLA_IFNAME, name, strlen(name) + 1);
    __u32 mask = RTEXT_FILTER_SKIP_STATS;
    attr(&r.h, IFLA_EXT_MASK, &mask, 4);
    return talk(s, &r);
}

static void addaddr(int s, int index, __u32 ip, int prefix) {
    struct req r;
    struct ifaddrmsg *a = start(&r, RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, sizeof *a);
    a->ifa_family = AF_INET;
    a->ifa_prefixlen = prefix;
    a->ifa_index = index;
    attr(&r.h, IFA_LOCAL, &ip, 4);
    attr(&r.h, IFA_ADDRESS, &ip, 4);
    talk(s, &r);
}

static void setup(int s, int index) {
    struct req r;
    struct ifinfomsg *i = start(&r, RTM_NEWLINK, NLM_F_ACK, sizeof *i);
    i->ifi_index = index;
    i->ifi_flags = i->ifi_change = IFF_UP;
    talk(s, &r);
}

static int self_pidfd;

static int current_netns(void) {
    int fd = ioctl(self_pidfd, PIDFD_GET_NET_NAMESPACE, 0);
    if (fd < 0) die("ioctl(PIDFD_GET_NET_NAMESPACE)");
    return fd;
}

/* A new netns, held by the returned fd; the thread stays where it was. */
static int new_netns(void) {
    int home = current_netns();
    if (unshare(CLONE_NEWNET) < 0) die("unshare");
    int fd = current_netns();
    if (setns(home, CLONE_NEWNET) < 0) die("setns back");
    close(home);
    return fd;
}

static int socket_in(int netns) {
    int home = current_netns();
    if (setns(netns, CLONE_NEWNET) < 0) die("setns");
    int s = nl_socket();
    if (setns(home, CLONE_NEWNET) < 0) die("setns back");
    close(home);
    return s;
}

/* One host of `chain`: a netns, lo up, held by an fd (*netns); returns a socket inside. */
static int new_host(int *netns) {
    int home = current_netns();
    if (unshare(CLONE_NEWNET) < 0) die("unshare");
    int s = nl_socket();
    setup(s, 1);
    *netns = current_netns();
    if (setns(home, CLONE_NEWNET) < 0) die("setns back");
    close(home);
    return s;
}

/* The veth of `chain` from host i-1 (socket prev) to host i (netns fd, socket next). */
static void chain_link(long i, int prev, int netns, int next) {
    struct req r;
    const char *here = i == 1 ? "eth0" : "eth1";
    struct ifinfomsg *m = start(&r, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, sizeof *m);
    m->ifi_flags = m->ifi_change = IFF_UP;
    attr(&r.h, IFLA_IFNAME, here, 5);
    struct rtattr *info = attr(&r.h, IFLA_LINKINFO, NULL, 0);
    attr(&r.h, IFLA_INFO_KIND, "veth", 5);
    struct rtattr *data = attr(&r.h, IFLA_INFO_DATA, NULL, 0);
    struct rtattr *peer = attr(&r.h, VETH_INFO_PEER, NULL, sizeof(struct ifinfomsg));
    attr(&r.h, IFLA_IFNAME, "eth0", 5);
    attr(&r.h, IFLA_NET_NS_FD, &netns, 4);
    nest_end(&r.h, peer);
    nest_end(&r.h, data);
    nest_end(&r.h, info);
    talk(prev, &r);
    __u32 subnet = 0x0a000000 + ((i - 1) << 8);
    addaddr(prev, getlink(prev, here), htonl(subnet + 1), 24);
    int ib = getlink(next, "eth0");
    setup(next, ib);
    addaddr(next, ib, htonl(subnet + 2), 24);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODE [ARG] K\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    long k = atol(argv[argc - 1]);
    self_pidfd = syscall(SYS_pidfd_open, gettid(), PIDFD_THREAD);
    if (self_pidfd < 0) die("pidfd_open");
    struct req r;
    long long t0;
    if (!strcmp(mode, "addaddr")) {
        int s = nl_socket();
        t0 = now();
        for (long i = 0; i < k; i++) addaddr(s, 1, htonl(0x0a000001 + i), 32);
    } else if (!strcmp(mode, "lookup") && argc == 4) {
        int s = nl_socket();
        t0 = now();
        for (long i = 0; i < k; i++)
            if (!getlink(s, argv[2])) die("lookup");
    } else if (!strcmp(mode, "dump")) {
        int s = nl_socket();
        t0 = now();
        for (long i = 0; i < k; i++) {
            start(&r, RTM_GETLINK, NLM_F_DUMP, sizeof(struct ifinfomsg));
            __u32 mask = RTEXT_FILTER_SKIP_STATS;
            attr(&r.h, IFLA_EXT_MASK, &mask, 4);
            talk(s, &r);
        }
    } else if (!strcmp(mode, "handle") && argc == 4) {
        t0 = now();
        for (long i = 0; i < k; i++) {
            int ns = open(argv[2], O_RDONLY | O_CLOEXEC);
            if (ns < 0) die("open");
            int s = socket_in(ns);
            if (getlink(s, "lo") != 1) die("lo");
            close(s);
            close(ns);
        }
    } else if (!strcmp(mode, "netns") && argc == 4) {
        char path[256];
        t0 = now();
        for (long i = 0; i < k; i++) {
            snprintf(path, sizeof path, "/run/netns/%s-%ld", argv[2], i);
            mkdir("/run/netns", 0755);
            if (mount("", "/run/netns", "none", MS_SHARED | MS_REC, NULL) < 0) die("mount shared");
            int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
            if (fd < 0) die("create");
            close(fd);
            int home = current_netns();
            if (unshare(CLONE_NEWNET) < 0) die("unshare");
            if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) die("bind");
            if (setns(home, CLONE_NEWNET) < 0) die("setns back");
            close(home);
            if (umount2(path, MNT_DETACH) < 0) die("umount2");
            if (unlink(path) < 0) die("unlink");
        }
    } else if (!strcmp(mode, "pair")) {
        t0 = now();
        for (long i = 0; i < k; i++) {
            int a = new_netns(), b = new_netns();
            int sa = socket_in(a);
            struct ifinfomsg *m = start(&r, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                                        sizeof *m);
            attr(&r.h, IFLA_IFNAME, "eth0", 5);
            struct rtattr *info = attr(&r.h, IFLA_LINKINFO, NULL, 0);
            attr(&r.h, IFLA_INFO_KIND, "veth", 5);
            struct rtattr *data = attr(&r.h, IFLA_INFO_DATA, NULL, 0);
            struct rtattr *peer = attr(&r.h, VETH_INFO_PEER, NULL, sizeof(struct ifinfomsg));
            attr(&r.h, IFLA_IFNAME, "eth0", 5);
            attr(&r.h, IFLA_NET_NS_FD, &b, 4);
            nest_end(&r.h, peer);
            nest_end(&r.h, data);
            nest_end(&r.h, info);
            talk(sa, &r);
            int ia = getlink(sa, "eth0");
            addaddr(sa, ia, htonl(0x0a000001), 24);
            setup(sa, ia);
            int sb = socket_in(b);
            int ib = getlink(sb, "eth0");
            addaddr(sb, ib, htonl(0x0a000002), 24);
            setup(sb, ib);
            close(sa);
            close(sb);
            close(a);
            close(b);
        }
    } else if (!strcmp(mode, "chain")) {
        int prev = -1;
        t0 = now();
        for (long i = 0; i < k; i++) {
            int netns;
            int s = new_host(&netns);
            if (prev >= 0) {
                chain_link(i, prev, netns, s);
                close(prev);
            }
            prev = s;
        }
    } else {
        fprintf(stderr, "bad mode %s\n", mode);
        return 2;
    }
    printf("%lld\n", now() - t0);
    return 0;
}
