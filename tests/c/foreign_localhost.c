/*
 * LD_PRELOAD shim for tests/c/test_foreign_localhost.c: getaddrinfo() says
 * "localhost" is 192.0.2.1 (TEST-NET), as a tampered /etc/hosts or DNS could,
 * and connect() to any address that is not loopback fails with ECONNREFUSED
 * after counting the attempt in bb_test_foreign_connects, so the test can see
 * whether anything was even tried there. Every other name and address goes to
 * the real functions.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

int bb_test_foreign_connects = 0;

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
                              struct addrinfo **);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    if (node != NULL && strcasecmp(node, "localhost") == 0) {
        struct addrinfo numeric;
        memset(&numeric, 0, sizeof numeric);
        if (hints != NULL) numeric = *hints;
        numeric.ai_flags |= AI_NUMERICHOST;
        numeric.ai_family = AF_INET;
        return real("192.0.2.1", service, &numeric, res);
    }
    return real(node, service, hints, res);
}

static int is_loopback(const struct sockaddr *addr) {
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        return memcmp(&in6->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback) == 0;
    }
    return 1; /* not an IP address: not the network */
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    if (addr != NULL && !is_loopback(addr)) {
        __atomic_add_fetch(&bb_test_foreign_connects, 1, __ATOMIC_SEQ_CST);
        errno = ECONNREFUSED;
        return -1;
    }
    connect_fn real = (connect_fn)dlsym(RTLD_NEXT, "connect");
    return real(fd, addr, len);
}
