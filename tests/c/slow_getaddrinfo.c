/*
 * LD_PRELOAD shim for tests/c/test_slow_dns.c: getaddrinfo() for any host
 * whose name starts with "slowdns" sleeps 5 s and then fails, like a
 * resolver that does not answer; every other name goes to the real one.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    if (node != NULL && strncmp(node, "slowdns", 7) == 0) {
        sleep(5);
        return EAI_AGAIN;
    }
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
        (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(
            RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}
