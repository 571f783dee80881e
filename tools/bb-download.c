/*
 * bb-download: fetch the files Browserbase sessions downloaded, from the
 * command line (see man/bb-download.1 for the full manual).
 *
 *     bb-download [OPTIONS] SESSION_ID...
 *
 * This program is also the most complete example of libbrowserbase's C API:
 * it uses only include/browserbase.h and shows a client built from the
 * environment, per-call options with a cancel handle triggered from a signal
 * handler, progress callbacks, waiting for a session's files, downloading to
 * a file or into memory, and listing and extracting archives safely.
 *
 * Build (from the checkout's root; `make build` does it):
 *
 *     cc -std=c99 -Wall -Wextra -Wpedantic -Werror -I include \
 *        tools/bb-download.c -o bb-download -L target/release -lbrowserbase \
 *        -lpthread -Wl,-rpath,"$PWD/target/release"
 *
 * The structure: main() parses the command line and reads the key, builds a
 * client, then has one "job" per session id done in one of two ways:
 * - saving archives into a directory (-d, the default): one call of
 *   bb_client_download_sessions_opts, which runs up to -j downloads at once
 *   on this thread and reports each session's bytes and end to a batch
 *   progress callback;
 * - -o, -w and -x, which the batch call does not do (and a batch the
 *   library refused before sending anything, so that each id gets its own
 *   verdict): the single-session calls, on up to -j worker threads.
 * Each finished job renders what it has to say on stdout (a JSON object or
 * a listing) into a string; the strings are printed in the order of the
 * ids, as soon as every earlier id is done, so the output is the same
 * whatever order the downloads finish in.
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "browserbase.h"

#define PROGRAM "bb-download"

/* ------------------------------------------------------------------------ */
/* Exit status: one stable number per failure class (man page, EXIT STATUS) */
/* ------------------------------------------------------------------------ */

enum exit_status {
    EXIT_ALL_OK = 0,
    EXIT_INTERNAL = 1,     /* BB_ERR_INTERNAL, out of memory, a bug */
    EXIT_USAGE = 2,        /* a bad command line; nothing was sent */
    EXIT_INVALID = 3,      /* BB_ERR_INVALID_ARGUMENT: a bad id, a bad BROWSERBASE_* value */
    EXIT_NO_KEY = 4,       /* no key, or an unusable key file; nothing was sent */
    EXIT_AUTH = 5,         /* BB_ERR_AUTHENTICATION (HTTP 401) */
    EXIT_PERMISSION = 6,   /* BB_ERR_PERMISSION_DENIED (HTTP 403) */
    EXIT_NOT_FOUND = 7,    /* BB_ERR_NOT_FOUND (HTTP 404) */
    EXIT_RATE_LIMITED = 8, /* BB_ERR_RATE_LIMITED (HTTP 429) */
    EXIT_SERVER = 9,       /* BB_ERR_SERVER (HTTP 5xx) */
    EXIT_HTTP = 10,        /* BB_ERR_HTTP: any other HTTP failure */
    EXIT_CONNECTION = 11,  /* BB_ERR_CONNECTION */
    EXIT_TIMEOUT = 12,     /* BB_ERR_TIMEOUT */
    EXIT_IO = 13,          /* BB_ERR_IO: the local file system (or stdout) */
    EXIT_ARCHIVE = 14,     /* BB_ERR_INVALID_ARCHIVE */
    EXIT_NOT_READY = 15,   /* BB_ERR_NOT_READY: -w ran out of time */
    EXIT_SIGNAL = 128      /* + the signal's number: 130 SIGINT, 143 SIGTERM */
};

static int exit_status_of(bb_code code) {
    switch (code) {
    case BB_OK: return EXIT_ALL_OK;
    case BB_ERR_INVALID_ARGUMENT: return EXIT_INVALID;
    case BB_ERR_AUTHENTICATION: return EXIT_AUTH;
    case BB_ERR_PERMISSION_DENIED: return EXIT_PERMISSION;
    case BB_ERR_NOT_FOUND: return EXIT_NOT_FOUND;
    case BB_ERR_RATE_LIMITED: return EXIT_RATE_LIMITED;
    case BB_ERR_SERVER: return EXIT_SERVER;
    case BB_ERR_HTTP: return EXIT_HTTP;
    case BB_ERR_CONNECTION: return EXIT_CONNECTION;
    case BB_ERR_TIMEOUT: return EXIT_TIMEOUT;
    case BB_ERR_IO: return EXIT_IO;
    case BB_ERR_INVALID_ARCHIVE: return EXIT_ARCHIVE;
    case BB_ERR_NOT_READY: return EXIT_NOT_READY;
    case BB_ERR_CANCELLED: return EXIT_SIGNAL + SIGINT;
    case BB_ERR_INTERNAL: return EXIT_INTERNAL;
    }
    return EXIT_INTERNAL; /* a code newer than this program */
}

/* ------------------------------------------------------------------------ */
/* Small helpers: messages, memory, growing strings                         */
/* ------------------------------------------------------------------------ */

/* Serializes everything written to stderr (and the progress line). */
static pthread_mutex_t stderr_lock = PTHREAD_MUTEX_INITIALIZER;

static void die_oom(void) {
    static const char msg[] = PROGRAM ": out of memory\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing left to try */
    }
    _exit(EXIT_INTERNAL);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        die_oom();
    }
    return q;
}

/* A growing, NUL-terminated string. */
struct str {
    char *p;
    size_t len, cap;
};

static void str_add(struct str *s, const char *data, size_t n) {
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->len + n + 1) {
            cap *= 2;
        }
        s->p = xrealloc(s->p, cap);
        s->cap = cap;
    }
    memcpy(s->p + s->len, data, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void str_puts(struct str *s, const char *text) { str_add(s, text, strlen(text)); }

static void str_printf(struct str *s, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n < sizeof small) {
        str_add(s, small, (size_t)n);
        return;
    }
    char *big = xrealloc(NULL, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    str_add(s, big, (size_t)n);
    free(big);
}

/*
 * Text from outside (session ids, file names from an archive) for a
 * terminal or a tab-separated line: backslash, tab and every control
 * character are escaped (\\, \t, \n, \xHH), so it stays one field on one
 * line and cannot send terminal escapes.
 */
static void str_add_escaped(struct str *s, const char *text) {
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '\\') {
            str_puts(s, "\\\\");
        } else if (*c == '\t') {
            str_puts(s, "\\t");
        } else if (*c == '\n') {
            str_puts(s, "\\n");
        } else if (*c == '\r') {
            str_puts(s, "\\r");
        } else if (*c < 0x20 || *c == 0x7f) {
            str_printf(s, "\\x%02x", *c);
        } else if (*c == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f) {
            str_printf(s, "\\u%04x", c[1]); /* a C1 control, U+0080..U+009F */
            c++;
        } else {
            str_add(s, (const char *)c, 1);
        }
    }
}

/* `text` escaped as str_add_escaped does, in a new string (for a message
   printed just before the program exits: never freed). */
static const char *escaped(const char *text) {
    struct str s = {0};
    str_puts(&s, "");
    str_add_escaped(&s, text);
    return s.p;
}

/* The length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *s) {
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0; /* overlong, out of range, or a surrogate */
    }
    return n;
}

/*
 * A JSON string (RFC 8259), quotes included. Control characters, DEL, the
 * C1 controls and U+2028/U+2029 are written as \uXXXX; a byte that is not
 * valid UTF-8 (a path given on the command line may hold one) becomes
 * U+FFFD, so the output is always valid UTF-8 JSON.
 */
static void str_add_json(struct str *s, const char *text) {
    str_puts(s, "\"");
    const unsigned char *c = (const unsigned char *)text;
    while (*c) {
        size_t n = utf8_sequence(c);
        if (n == 0) {
            str_puts(s, "\\ufffd");
            c++;
        } else if (*c == '"' || *c == '\\') {
            str_add(s, "\\", 1);
            str_add(s, (const char *)c, 1);
            c++;
        } else if (*c == '\n') {
            str_puts(s, "\\n");
            c++;
        } else if (*c == '\t') {
            str_puts(s, "\\t");
            c++;
        } else if (*c == '\r') {
            str_puts(s, "\\r");
            c++;
        } else if (*c < 0x20 || *c == 0x7f) {
            str_printf(s, "\\u%04x", *c);
            c++;
        } else if (n == 2 && c[0] == 0xc2 && c[1] <= 0x9f) {
            str_printf(s, "\\u%04x", c[1]);
            c += 2;
        } else if (n == 3 && c[0] == 0xe2 && c[1] == 0x80 && (c[2] == 0xa8 || c[2] == 0xa9)) {
            str_printf(s, "\\u%04x", 0x2000 + (c[2] - 0x80));
            c += 3;
        } else {
            str_add(s, (const char *)c, n);
            c += n;
        }
    }
    str_puts(s, "\"");
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

static struct {
    const char *output;      /* -o FILE (one session) */
    const char *dir;         /* -d DIR (default ".") */
    const char *extract_dir; /* -x DIR */
    int list;                /* -l */
    int wait;                /* -w given */
    uint32_t wait_ms;        /* -w SECONDS, in ms */
    unsigned jobs;           /* -j N; 0: the default */
    int json;                /* --json */
    int progress;            /* -1 auto (stderr is a terminal), 0 off, 1 on */
    const char *key_file;    /* --key-file FILE */
} opt = {NULL, NULL, NULL, 0, 0, 0, 0, 0, -1, NULL};

/* Sessions at once when -j is not given, and the most -j accepts. */
#define DEFAULT_JOBS 8
#define MAX_JOBS 64

static const char usage_text[] =
    "usage: " PROGRAM " [OPTIONS] SESSION_ID...\n"
    "Fetch the files Browserbase sessions downloaded, as ZIP archives.\n"
    "\n"
    "  -o FILE          one session: write the archive to FILE (default: <id>.zip)\n"
    "  -d DIR           write <DIR>/<id>.zip for each session (default: .)\n"
    "  -x DIR           extract instead of saving the archive\n"
    "                   (several sessions: into DIR/<id>/)\n"
    "  -l               list each archive's files on stdout: session id, size,\n"
    "                   download time, original name (tab-separated)\n"
    "  -w SECONDS       wait up to SECONDS for a session's files to be synced first\n"
    "  -j N             sessions at once (default 8, at most 64)\n"
    "  --json           one JSON object per session on stdout\n"
    "                   (id, code, exit, path, bytes, files)\n"
    "  --progress       draw the progress line on stderr even when it is not a terminal\n"
    "  --no-progress, -q  never draw it (by default: only when stderr is a terminal)\n"
    "  --key-file FILE  read the API key from FILE (one line; not readable by others)\n"
    "  --version        print the version and exit\n"
    "  --help, -h       print this help and exit\n"
    "\n"
    "The API key comes from the BROWSERBASE_API_KEY environment variable or from\n"
    "--key-file, never from the command line: other users can read a process's\n"
    "arguments. BROWSERBASE_BASE_URL and the other BROWSERBASE_* variables of\n"
    "browserbase(3) apply.\n"
    "\n"
    "Exit status: 0 all succeeded, 1 internal error, 2 bad command line,\n"
    "3 invalid argument, 4 no usable API key, 5 authentication (401),\n"
    "6 permission denied (403), 7 not found (404), 8 rate limited (429),\n"
    "9 server error (5xx), 10 other HTTP error, 11 connection, 12 timeout,\n"
    "13 local I/O, 14 invalid archive, 15 not ready (-w ran out),\n"
    "130 interrupted (SIGINT), 143 terminated (SIGTERM). With several sessions,\n"
    "the status of the first one (in the order given) that failed.\n"
    "See bb-download(1).\n";

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void usage_error(const char *fmt, ...) {
    va_list ap;
    fputs(PROGRAM ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry '" PROGRAM " --help' for more information.\n", stderr);
    exit(EXIT_USAGE);
}

/* Digits, and at most one '.' when `point` (strtod and strtol would also
   take spaces, signs, hex, exponents, "inf" and "nan"). */
static int plain_number(const char *text, int point) {
    size_t digits = strspn(text, "0123456789");
    if (point && text[digits] == '.') {
        size_t more = strspn(text + digits + 1, "0123456789");
        return digits + more > 0 && text[digits + 1 + more] == '\0';
    }
    return digits > 0 && text[digits] == '\0';
}

/* -w SECONDS: a decimal number of seconds (fractions allowed), 0 to 4294967. */
static uint32_t parse_seconds(const char *text) {
    char *end = NULL;
    errno = 0;
    double seconds = strtod(text, &end);
    if (!plain_number(text, 1) || end == text || *end != '\0' || errno != 0 ||
        !(seconds >= 0.0) || seconds > 4294967.0) {
        usage_error("-w: '%s' is not a number of seconds from 0 to 4294967", text);
    }
    return (uint32_t)llround(seconds * 1000.0);
}

static unsigned parse_jobs(const char *text) {
    char *end = NULL;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (!plain_number(text, 0) || end == text || *end != '\0' || errno != 0 || n < 1 || n > MAX_JOBS) {
        usage_error("-j: '%s' is not a number from 1 to %d", text, MAX_JOBS);
    }
    return (unsigned)n;
}

/* --help and --version: 0 once their text is out, else 13 with the reason. */
static void exit_after_stdout(void) __attribute__((noreturn));

static void exit_after_stdout(void) {
    if (fflush(stdout) == 0 && !ferror(stdout)) {
        exit(EXIT_ALL_OK);
    }
    fprintf(stderr, PROGRAM ": stdout: %s\n", strerror(errno ? errno : EIO));
    exit(EXIT_IO);
}

/*
 * A standard stream the caller closed (`>&-`, `2>&-`) would be the first
 * descriptor the library opens (an event fd, a socket, an archive), and the
 * output, the messages and the progress line would go into it. Each is held
 * on /dev/null instead: stdout read-only, so that output asked for fails
 * with EBADF (exit 13) rather than vanish; stderr writable, so that a
 * message is dropped and the exit status alone tells.
 */
static void hold_closed_streams(void) {
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
            int null = open("/dev/null", fd == STDERR_FILENO ? O_WRONLY : O_RDONLY);
            if (null != fd) {
                _exit(EXIT_INTERNAL); /* the lowest free descriptor is fd itself */
            }
        }
    }
}

enum { OPT_JSON = 256, OPT_PROGRESS, OPT_NO_PROGRESS, OPT_KEY_FILE, OPT_VERSION };

static int compare_ids(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int parse_args(int argc, char **argv) {
    static const struct option longs[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"quiet", no_argument, NULL, 'q'},
        {"key-file", required_argument, NULL, OPT_KEY_FILE},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* our own messages */
    int c;
    while ((c = getopt_long(argc, argv, ":o:d:x:lw:j:qh", longs, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (strcmp(optarg, "-") == 0) {
                usage_error("-o -: the archive does not go to stdout, which carries only -l "
                            "and --json (a file named '-': -o ./-)");
            }
            opt.output = optarg;
            break;
        case 'd': opt.dir = optarg; break;
        case 'x': opt.extract_dir = optarg; break;
        case 'l': opt.list = 1; break;
        case 'w':
            opt.wait = 1;
            opt.wait_ms = parse_seconds(optarg);
            break;
        case 'j': opt.jobs = parse_jobs(optarg); break;
        case 'q':
        case OPT_NO_PROGRESS: opt.progress = 0; break;
        case OPT_PROGRESS: opt.progress = 1; break;
        case OPT_JSON: opt.json = 1; break;
        case OPT_KEY_FILE: opt.key_file = optarg; break;
        case OPT_VERSION:
            printf("%s %s (libbrowserbase %s)\n", PROGRAM, BB_VERSION_STRING, bb_version());
            exit_after_stdout();
        case 'h':
            fputs(usage_text, stdout);
            exit_after_stdout();
        case ':': usage_error("option '%s' needs an argument", escaped(argv[optind - 1]));
        default:
            if (optopt != 0 && optopt < 256) {
                usage_error("unknown option '-%c'", optopt);
            }
            usage_error("unknown option '%s'", escaped(argv[optind - 1]));
        }
    }
    int count = argc - optind;
    if (count == 0) {
        usage_error("no session id given");
    }
    if (opt.output && count > 1) {
        usage_error("-o names one file: with several sessions, use -d DIR");
    }
    if (opt.output && opt.dir) {
        usage_error("-o and -d do not go together");
    }
    if (opt.extract_dir && (opt.output || opt.dir)) {
        usage_error("-x extracts instead of saving the archive: it does not go with -o or -d");
    }
    /* Duplicates: sorted, so that many ids (a glob, xargs) take no time. */
    const char **sorted = xrealloc(NULL, (size_t)count * sizeof *sorted);
    for (int i = optind; i < argc; i++) {
        if (argv[i][0] == '\0') {
            usage_error("an empty session id");
        }
        sorted[i - optind] = argv[i];
    }
    qsort(sorted, (size_t)count, sizeof *sorted, compare_ids);
    for (int i = 1; i < count; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            usage_error("session id '%s' is given twice", escaped(sorted[i]));
        }
    }
    free(sorted);
    return optind;
}

/* ------------------------------------------------------------------------ */
/* The API key                                                              */
/* ------------------------------------------------------------------------ */

#define MAX_KEY_FILE 4096

/*
 * Reads the key from --key-file: a regular file that other users (not the
 * owner, not the group) cannot read, and that no one but its owner can
 * write; one trailing newline ("\n" or "\r\n") is dropped. Returns a
 * malloc'd key, or NULL after printing why.
 */
static char *read_key_file(const char *path) {
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, PROGRAM ": --key-file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *key = NULL;
    if (fstat(fd, &st) != 0) {
        fprintf(stderr, PROGRAM ": --key-file %s: %s\n", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, PROGRAM ": --key-file %s: not a regular file\n", path);
    } else if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
        fprintf(stderr,
                PROGRAM ": --key-file %s: other users can %s it; refusing to use the key "
                        "(chmod 600 %s)\n",
                path, (st.st_mode & S_IROTH) ? "read" : "write", path);
    } else if (st.st_size > MAX_KEY_FILE) {
        fprintf(stderr, PROGRAM ": --key-file %s: larger than %d bytes; not a key\n", path,
                MAX_KEY_FILE);
    } else {
        key = xrealloc(NULL, MAX_KEY_FILE + 2);
        size_t len = 0;
        ssize_t n;
        while (len <= MAX_KEY_FILE &&
               ((n = read(fd, key + len, MAX_KEY_FILE + 1 - len)) > 0 || (n < 0 && errno == EINTR))) {
            if (n > 0) {
                len += (size_t)n;
            }
        }
        if (n < 0) {
            fprintf(stderr, PROGRAM ": --key-file %s: %s\n", path, strerror(errno));
            free(key);
            key = NULL;
        } else if (len > MAX_KEY_FILE) {
            fprintf(stderr, PROGRAM ": --key-file %s: larger than %d bytes; not a key\n", path,
                    MAX_KEY_FILE);
            free(key);
            key = NULL;
        } else {
            if (len > 0 && key[len - 1] == '\n') {
                len--;
                if (len > 0 && key[len - 1] == '\r') {
                    len--;
                }
            }
            key[len] = '\0';
            if (len == 0 || strlen(key) != len) {
                fprintf(stderr, PROGRAM ": --key-file %s: %s\n", path,
                        len == 0 ? "the file is empty" : "the key holds a NUL byte");
                free(key);
                key = NULL;
            }
        }
    }
    close(fd);
    return key;
}

/* Overwrites a key before its memory is freed (a compiler may not drop it). */
static void forget(char *secret) {
    if (secret) {
        volatile char *p = secret;
        while (*p) {
            *p++ = '\0';
        }
        free(secret);
    }
}

/* ------------------------------------------------------------------------ */
/* Signals: SIGINT and SIGTERM trigger the cancel handle                    */
/* ------------------------------------------------------------------------ */

static bb_cancel *cancel;
static volatile sig_atomic_t caught_signal;

/*
 * bb_cancel_trigger is async-signal-safe (an atomic store and one write(2)):
 * every running call returns BB_ERR_CANCELLED within about 100 ms, leaving
 * no partial file, and calls not started yet return it at once.
 */
static void on_signal(int signo) {
    int saved = errno;
    if (caught_signal == 0) {
        caught_signal = signo;
    }
    bb_cancel_trigger(cancel);
    errno = saved;
}

static void install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed stdout is an error to report (EPIPE), not a reason to die
       halfway through a download. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* Blocks the signals, so that the handler no longer runs: then the cancel
   handle may be freed. */
static void block_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* ------------------------------------------------------------------------ */
/* Progress on stderr                                                       */
/* ------------------------------------------------------------------------ */

/* One session being downloaded (see struct job). */
struct job;

static struct {
    int enabled;
    int dirty;              /* a progress line is on screen, without newline */
    size_t sessions;        /* how many ids */
    size_t done, failed;    /* sessions finished */
    uint64_t received;      /* bytes of every session so far */
    uint64_t announced;     /* the Content-Length of the sessions started */
    int unknown_total;      /* a session in flight announced no length */
    double started;
} progress;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void format_bytes(char *out, size_t n, double bytes) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        u++;
    }
    if (u == 0) {
        snprintf(out, n, "%.0f B", bytes);
    } else {
        snprintf(out, n, "%.1f %s", bytes, units[u]);
    }
}

static void format_duration(char *out, size_t n, double seconds) {
    if (!(seconds >= 0.0) || seconds > 359999.0) {
        snprintf(out, n, "--:--");
        return;
    }
    unsigned long s = (unsigned long)(seconds + 0.5);
    if (s >= 3600) {
        snprintf(out, n, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    } else {
        snprintf(out, n, "%lu:%02lu", s / 60, s % 60);
    }
}

/* Erases the progress line (before a message, or at the end). Holds stderr_lock. */
/*
 * The width the progress line may take: one less than the terminal's
 * columns (read at each draw: a window may be resized), so that it never
 * wraps, which would make every redraw a new line; 79 when stderr is not a
 * terminal or does not say.
 */
static int progress_width(void) {
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 1 && ws.ws_col <= 80) {
        return ws.ws_col - 1;
    }
    return 79;
}

static void progress_clear_locked(void) {
    if (progress.dirty) {
        fprintf(stderr, "\r%*s\r", progress_width(), "");
        progress.dirty = 0;
    }
}

/* Draws the progress line: bytes, rate and time left, for one session or
   all of them together. Holds stderr_lock. */
static void progress_draw_locked(void) {
    if (!progress.enabled) {
        return;
    }
    double now = now_seconds();
    double elapsed = now - progress.started;
    double rate = elapsed > 0.05 ? (double)progress.received / elapsed : 0.0;
    char got[32], total[32], speed[32], eta[32];
    format_bytes(got, sizeof got, (double)progress.received);
    format_bytes(speed, sizeof speed, rate);
    char line[256];
    if (progress.sessions == 1) {
        if (!progress.unknown_total && progress.announced > 0) {
            double left = (double)progress.announced - (double)progress.received;
            format_bytes(total, sizeof total, (double)progress.announced);
            format_duration(eta, sizeof eta, rate > 0 ? left / rate : -1.0);
            snprintf(line, sizeof line, "%s / %s  %3.0f%%  %s/s  ETA %s", got, total,
                     100.0 * (double)progress.received / (double)progress.announced, speed, eta);
        } else {
            snprintf(line, sizeof line, "%s  %s/s", got, speed);
        }
    } else {
        /* Many sessions: the ETA extrapolates from the sessions finished. */
        double left = progress.done > 0 ? elapsed / (double)progress.done *
                                              (double)(progress.sessions - progress.done)
                                        : -1.0;
        format_duration(eta, sizeof eta, left);
        char failed[48] = "";
        if (progress.failed > 0) {
            snprintf(failed, sizeof failed, "  %zu failed", progress.failed);
        }
        snprintf(line, sizeof line, "%zu/%zu sessions  %s  %s/s  ETA %s%s", progress.done,
                 progress.sessions, got, speed, eta, failed);
    }
    int width = progress_width(); /* the line is ASCII: a byte a column */
    fprintf(stderr, "\r%-*.*s", width, width, line);
    fflush(stderr);
    progress.dirty = 1;
}

/*
 * The ticker thread redraws the line ten times a second, so that it stays
 * true (the rate falls, the time left grows) while a server is silent and
 * no callback comes.
 */
static pthread_cond_t ticker_stop = PTHREAD_COND_INITIALIZER;
static int ticker_stopping;

static void *ticker(void *unused) {
    (void)unused;
    pthread_mutex_lock(&stderr_lock);
    while (!ticker_stopping) {
        progress_draw_locked();
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000 * 1000;
        if (until.tv_nsec >= 1000 * 1000 * 1000) {
            until.tv_sec++;
            until.tv_nsec -= 1000 * 1000 * 1000;
        }
        pthread_cond_timedwait(&ticker_stop, &stderr_lock, &until);
    }
    pthread_mutex_unlock(&stderr_lock);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Jobs: one per session id                                                 */
/* ------------------------------------------------------------------------ */

struct job {
    const char *id;
    char *path;       /* the archive, or the directory extracted into */
    bb_code code;
    uint64_t bytes;   /* the archive's size */
    size_t files;     /* its entries, directories not counted */
    char *output;     /* what to print on stdout, in the order of the ids */
    int finished;     /* set under stdout_lock */
    uint64_t received; /* progress of this session */
    int64_t total;
};

static bb_client *client;
static const char *api_key;
static struct job *jobs;
static size_t job_count;
static size_t next_job;      /* the next job a worker takes (under job_lock) */
static size_t next_to_print; /* the next job whose output is printed (under stdout_lock) */
static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t stdout_lock = PTHREAD_MUTEX_INITIALIZER;
static int stdout_failed;    /* errno of a failed write to stdout */

/*
 * A session id as a file name, by bb_download_sessions' rule (so that -d,
 * -x and the batch call name files alike): `A-Z a-z 0-9 . _ -` stay, every
 * other byte and a leading '.' become %XX ("a/b" -> "a%2Fb", ".x" ->
 * "%2Ex", "%" -> "%25"), so every id has its own name, the same every time,
 * and none is hidden or a path.
 */
static void str_add_file_name(struct str *s, const char *id) {
    for (const unsigned char *c = (const unsigned char *)id; *c; c++) {
        int plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                    (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' ||
                    (*c == '.' && c != (const unsigned char *)id);
        if (plain) {
            str_add(s, (const char *)c, 1);
        } else {
            str_printf(s, "%%%02X", *c);
        }
    }
}

/* A session's bytes so far and its announced size, for the progress line.
   Holds stderr_lock. */
static void progress_update_locked(struct job *job, uint64_t received, int64_t total) {
    if (total != job->total) {
        if (job->total > 0) {
            progress.announced -= (uint64_t)job->total;
        } else if (job->total < 0) {
            progress.unknown_total--;
        }
        if (total > 0) {
            progress.announced += (uint64_t)total;
        } else if (total < 0) {
            progress.unknown_total++;
        }
        job->total = total;
    }
    progress.received = progress.received - job->received + received;
    job->received = received;
}

/* Called by the library on the worker's thread: before the first byte (0)
   and after every chunk. A retried download starts again from 0. */
static int on_progress(void *user_data, uint64_t received, int64_t total) {
    pthread_mutex_lock(&stderr_lock);
    progress_update_locked(user_data, received, total);
    pthread_mutex_unlock(&stderr_lock); /* the ticker draws */
    return 0; /* cancelling is the cancel handle's job */
}

/* A download time (ms since 1970, UTC) as ISO 8601, or "-" for none. */
static void format_time(char *out, size_t n, int64_t ms) {
    struct tm tm;
    time_t secs = (time_t)(ms / 1000);
    if (ms < 0 || gmtime_r(&secs, &tm) == NULL) {
        snprintf(out, n, "-");
        return;
    }
    size_t len = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + len, n - len, ".%03dZ", (int)(ms % 1000));
}

/* Counts an archive's files and renders the listing (-l) or the JSON
   "entries" array. Fails only when an entry cannot be read. */
static bb_code describe_archive(struct job *job, const bb_archive *archive, struct str *listing,
                                struct str *entries, bb_error **err) {
    size_t count = bb_archive_entry_count(archive);
    for (size_t i = 0; i < count; i++) {
        bb_archive_entry e = BB_ARCHIVE_ENTRY_INIT;
        bb_code rc = bb_archive_entry_at(archive, i, &e, err);
        if (rc != BB_OK) {
            return rc;
        }
        size_t name_len = strlen(e.name);
        if (name_len > 0 && e.name[name_len - 1] == '/') {
            continue; /* a directory */
        }
        job->files++;
        if (listing) {
            char when[40];
            format_time(when, sizeof when, e.download_time_ms);
            str_add_escaped(listing, job->id);
            str_printf(listing, "\t%llu\t%s\t", (unsigned long long)e.size, when);
            str_add_escaped(listing, e.original_name);
            str_puts(listing, "\n");
        }
        if (entries) {
            str_puts(entries, entries->len ? "," : "[");
            str_puts(entries, "{\"name\":");
            str_add_json(entries, e.name);
            str_puts(entries, ",\"original_name\":");
            str_add_json(entries, e.original_name);
            str_printf(entries, ",\"size\":%llu,\"download_time_ms\":", (unsigned long long)e.size);
            if (e.download_time_ms >= 0) {
                str_printf(entries, "%lld}", (long long)e.download_time_ms);
            } else {
                str_puts(entries, "null}");
            }
        }
    }
    return BB_OK;
}

/* A failure, on stderr: one line with the session id, the code and the
   library's message (which never holds the key and is one line). */
static void report_failure(const struct job *job, bb_code code, const char *message) {
    struct str line = {0};
    str_puts(&line, PROGRAM ": ");
    str_add_escaped(&line, job->id);
    str_printf(&line, ": %s: ", bb_code_name(code));
    str_puts(&line, message ? message : "");
    pthread_mutex_lock(&stderr_lock);
    progress_clear_locked();
    fprintf(stderr, "%s\n", line.p);
    if (progress.sessions > 1) {
        progress_draw_locked(); /* the others go on */
    } else {
        progress.enabled = 0; /* the message says it all */
    }
    pthread_mutex_unlock(&stderr_lock);
    free(line.p);
}

/* Prints the outputs of the finished jobs that come next in the ids' order. */
static void print_ready_outputs_locked(void) {
    while (next_to_print < job_count && jobs[next_to_print].finished) {
        struct job *job = &jobs[next_to_print++];
        if (job->output && !stdout_failed) {
            if (fputs(job->output, stdout) == EOF || fflush(stdout) == EOF) {
                stdout_failed = errno ? errno : EIO;
                bb_cancel_trigger(cancel); /* no one reads what we would print */
            }
        }
        free(job->output);
        job->output = NULL;
    }
}

/*
 * Everything after a session's library calls, on whichever path: its
 * listing and JSON object from the opened `archive` (NULL on failure), its
 * message, and its output, printed in the order of the ids.
 */
static void complete_job(struct job *job, bb_code rc, const char *message, bb_archive *archive) {
    struct str listing = {0}, entries = {0};
    bb_error *err = NULL;
    if (rc == BB_OK && archive != NULL) {
        rc = describe_archive(job, archive, opt.list && !opt.json ? &listing : NULL,
                              opt.list && opt.json ? &entries : NULL, &err);
        if (rc != BB_OK) {
            message = bb_error_message(err);
        }
    }
    job->code = rc;
    int cancelled_by_signal = rc == BB_ERR_CANCELLED && caught_signal;
    if (rc != BB_OK && !cancelled_by_signal) {
        report_failure(job, rc, message);
    }

    struct str out = {0};
    if (opt.json) {
        str_puts(&out, "{\"id\":");
        str_add_json(&out, job->id);
        str_printf(&out, ",\"code\":\"%s\",\"exit\":%d,\"path\":", bb_code_name(rc),
                   cancelled_by_signal ? EXIT_SIGNAL + caught_signal : exit_status_of(rc));
        if (rc == BB_OK) {
            str_add_json(&out, job->path);
        } else {
            str_puts(&out, "null");
        }
        str_printf(&out, ",\"bytes\":%llu,\"files\":%zu",
                   (unsigned long long)(rc == BB_OK ? job->bytes : 0), rc == BB_OK ? job->files : 0);
        if (rc != BB_OK) {
            str_puts(&out, ",\"message\":");
            str_add_json(&out, message ? message : "");
        }
        if (opt.list) {
            str_puts(&out, ",\"entries\":");
            str_puts(&out, rc == BB_OK && entries.len ? entries.p : "[");
            str_puts(&out, "]");
        }
        str_puts(&out, "}\n");
    } else if (rc == BB_OK && listing.len) {
        out = listing;
        listing.p = NULL;
    }
    free(listing.p);
    free(entries.p);
    bb_error_free(err);

    pthread_mutex_lock(&stderr_lock);
    progress.done++;
    if (rc != BB_OK) {
        progress.failed++;
    }
    pthread_mutex_unlock(&stderr_lock);

    pthread_mutex_lock(&stdout_lock);
    job->output = out.p;
    job->finished = 1;
    print_ready_outputs_locked();
    pthread_mutex_unlock(&stdout_lock);
}

/* Opens a saved archive for -l and --json (and notes its size). */
static bb_code open_saved_archive(struct job *job, bb_archive **archive, bb_error **err) {
    if (!opt.list && !opt.json) {
        return BB_OK; /* nothing to say about it */
    }
    struct stat st;
    if (stat(job->path, &st) == 0) {
        job->bytes = (uint64_t)st.st_size;
    }
    return bb_archive_open_file(job->path, archive, err);
}

/*
 * One session on a worker thread, with the single-session calls: -o, -w
 * and -x, and the fallback of the batch path.
 */
static void run_job(struct job *job) {
    bb_call_options options = BB_CALL_OPTIONS_INIT;
    options.cancel = cancel;
    if (progress.enabled) {
        options.progress = on_progress;
        options.progress_user_data = job;
    }
    bb_error *err = NULL;
    bb_archive *archive = NULL;
    bb_code rc;
    const uint32_t flags = BB_WAIT_DEFAULT;

    if (opt.extract_dir == NULL) {
        /* Save the archive: atomically, never a partial file. */
        rc = opt.wait ? bb_client_wait_for_downloads_opts(client, api_key, job->id, opt.wait_ms,
                                                          flags, job->path, &options, &err)
                      : bb_client_download_opts(client, api_key, job->id, job->path, &options,
                                                &err);
        if (rc == BB_OK) {
            rc = open_saved_archive(job, &archive, &err);
        }
    } else {
        /* Extract: the archive comes into memory, is opened (which copies
           it) and extracted safely, all or nothing. */
        uint8_t *data = NULL;
        size_t len = 0;
        rc = opt.wait ? bb_client_wait_for_downloads_to_buffer_opts(client, api_key, job->id,
                                                                    opt.wait_ms, flags, &data,
                                                                    &len, &options, &err)
                      : bb_client_download_to_buffer_opts(client, api_key, job->id, &data, &len,
                                                          &options, &err);
        if (rc == BB_OK) {
            job->bytes = len;
            rc = bb_archive_open_buffer(data, len, &archive, &err);
            bb_buffer_free(data, len);
        }
        if (rc == BB_OK) {
            rc = bb_archive_extract_to_opts(archive, job->path, &options, &err);
        }
    }
    complete_job(job, rc, err ? bb_error_message(err) : NULL, archive);
    bb_archive_free(archive);
    bb_error_free(err);
}

static void *worker(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&job_lock);
        size_t i = next_job < job_count ? next_job++ : job_count;
        pthread_mutex_unlock(&job_lock);
        if (i == job_count) {
            return NULL;
        }
        run_job(&jobs[i]);
    }
}

/* Runs every job on up to `n` threads (the calling one included). */
static void run_jobs(unsigned n) {
    if (n > job_count) {
        n = (unsigned)job_count;
    }
    pthread_t threads[MAX_JOBS];
    unsigned started = 0;
    for (unsigned i = 1; i < n; i++) {
        if (pthread_create(&threads[started], NULL, worker, NULL) != 0) {
            break; /* fewer threads: slower, not wrong */
        }
        started++;
    }
    worker(NULL);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
    }
}

/* ------------------------------------------------------------------------ */
/* Many sessions into a directory: one bb_client_download_sessions_opts call */
/* ------------------------------------------------------------------------ */

/*
 * The batch call's progress, on this (the calling) thread: each session's
 * bytes as they come, and each session's end, which completes its job at
 * once (its message, its listing or JSON object).
 */
static int on_batch_progress(void *user_data, const bb_batch_progress *p) {
    (void)user_data;
    struct job *job = &jobs[p->index];
    if (!p->finished) {
        if (progress.enabled) {
            pthread_mutex_lock(&stderr_lock);
            progress_update_locked(job, p->received, p->total);
            pthread_mutex_unlock(&stderr_lock);
        }
        return 0;
    }
    bb_archive *archive = NULL;
    bb_error *err = NULL;
    bb_code rc = p->code;
    if (rc == BB_OK) {
        rc = open_saved_archive(job, &archive, &err);
    }
    complete_job(job, rc, err ? bb_error_message(err) : p->message, archive);
    bb_archive_free(archive);
    bb_error_free(err);
    return 0; /* cancelling is the cancel handle's job */
}

/*
 * Downloads every session to DIR/<name>.zip in one library call, `jobs`
 * at once (0: the library's default) on this thread. Returns 0 when the
 * library refused the call before sending anything (a bad id, a missing
 * directory): the caller then runs the sessions one by one, so that each
 * gets its own verdict and message.
 */
static int run_batch(unsigned concurrency) {
    const char **ids = xrealloc(NULL, job_count * sizeof *ids);
    bb_code *results = xrealloc(NULL, job_count * sizeof *results);
    for (size_t i = 0; i < job_count; i++) {
        ids[i] = jobs[i].id;
        results[i] = (bb_code)-1; /* left alone when the call is refused */
    }
    bb_call_options options = BB_CALL_OPTIONS_INIT;
    options.cancel = cancel;
    options.batch_progress = on_batch_progress;
    bb_error *err = NULL;
    bb_client_download_sessions_opts(client, api_key, ids, job_count, opt.dir ? opt.dir : ".",
                                     concurrency, &options, results, &err);
    int ran = results[0] != (bb_code)-1;
    if (ran) {
        /* Sessions that never reported an end (cancelled before starting). */
        for (size_t i = 0; i < job_count; i++) {
            if (!jobs[i].finished) {
                complete_job(&jobs[i], results[i],
                             results[i] == BB_ERR_CANCELLED ? "the call was cancelled"
                                                          : bb_error_message(err),
                             NULL);
            }
        }
    }
    bb_error_free(err);
    free(results);
    free(ids);
    return ran;
}

/* ------------------------------------------------------------------------ */
/* main                                                                     */
/* ------------------------------------------------------------------------ */

/* The path each session's archive (or extraction) goes to. */
static char *job_path(const char *id) {
    struct str s = {0};
    if (opt.output) {
        str_puts(&s, opt.output);
    } else if (opt.extract_dir) {
        str_puts(&s, opt.extract_dir);
        if (job_count > 1) {
            str_puts(&s, "/");
            str_add_file_name(&s, id);
        }
    } else {
        str_puts(&s, opt.dir ? opt.dir : ".");
        str_puts(&s, "/");
        str_add_file_name(&s, id);
        str_puts(&s, ".zip");
    }
    return s.p;
}

/* A client from the BROWSERBASE_* environment, naming this tool in its
   User-Agent. */
static bb_code make_client(bb_client **out, bb_error **err) {
    bb_client_builder *builder = bb_client_builder_new();
    bb_code rc = bb_client_builder_load_env(builder, err);
    if (rc == BB_OK) {
        rc = bb_client_builder_set_user_agent_suffix(builder, PROGRAM "/" BB_VERSION_STRING, err);
    }
    if (rc == BB_OK) {
        rc = bb_client_new(builder, out, err);
    }
    bb_client_builder_free(builder);
    return rc;
}

int main(int argc, char **argv) {
    hold_closed_streams();
    int first = parse_args(argc, argv);

    if (bb_version_number() < BB_VERSION_NUMBER) {
        fprintf(stderr, PROGRAM ": libbrowserbase %s is older than %s, which this program needs\n",
                bb_version(), BB_VERSION_STRING);
        return EXIT_INTERNAL;
    }

    /* The key: --key-file, else BROWSERBASE_API_KEY; never an argument. */
    char *key_from_file = NULL;
    if (opt.key_file) {
        key_from_file = read_key_file(opt.key_file);
        if (key_from_file == NULL) {
            return EXIT_NO_KEY;
        }
        api_key = key_from_file;
    } else {
        api_key = getenv("BROWSERBASE_API_KEY");
        if (api_key == NULL || api_key[0] == '\0') {
            fputs(PROGRAM ": no API key: set BROWSERBASE_API_KEY or use --key-file FILE "
                          "(never on the command line)\n",
                  stderr);
            return EXIT_NO_KEY;
        }
    }

    bb_error *err = NULL;
    bb_code rc = bb_cancel_new(&cancel, &err);
    if (rc == BB_OK) {
        rc = make_client(&client, &err);
    }
    if (rc != BB_OK) {
        fprintf(stderr, PROGRAM ": %s: %s\n", bb_code_name(rc), bb_error_message(err));
        bb_error_free(err);
        forget(key_from_file);
        return exit_status_of(rc);
    }
    install_signal_handlers();

    job_count = (size_t)(argc - first);
    jobs = xrealloc(NULL, job_count * sizeof *jobs);
    memset(jobs, 0, job_count * sizeof *jobs);
    for (size_t i = 0; i < job_count; i++) {
        jobs[i].id = argv[first + (int)i];
        jobs[i].path = job_path(jobs[i].id);
    }

    /* Several sessions extract into DIR/<id>/: DIR itself must exist. */
    int made_dir = 0;
    int status = EXIT_ALL_OK;
    if (opt.extract_dir && job_count > 1) {
        if (mkdir(opt.extract_dir, 0777) == 0) {
            made_dir = 1;
        } else if (errno != EEXIST) {
            fprintf(stderr, PROGRAM ": -x %s: %s\n", opt.extract_dir, strerror(errno));
            status = EXIT_IO;
        }
    }

    if (status == EXIT_ALL_OK) {
        progress.enabled = opt.progress == 1 || (opt.progress == -1 && isatty(STDERR_FILENO));
        progress.sessions = job_count;
        progress.started = now_seconds();
        pthread_t ticker_thread;
        int ticking = progress.enabled && pthread_create(&ticker_thread, NULL, ticker, NULL) == 0;
        /* Saving archives into a directory is the batch call's job; -o,
           -w and -x are single-session calls on worker threads. */
        int batch = !opt.output && !opt.wait && !opt.extract_dir;
        if (!batch || !run_batch(opt.jobs)) {
            run_jobs(opt.jobs ? opt.jobs : DEFAULT_JOBS);
        }
        if (ticking) {
            pthread_mutex_lock(&stderr_lock);
            ticker_stopping = 1;
            pthread_cond_signal(&ticker_stop);
            pthread_mutex_unlock(&stderr_lock);
            pthread_join(ticker_thread, NULL);
        }

        pthread_mutex_lock(&stderr_lock);
        if (progress.dirty) {
            progress_draw_locked();
            fputs("\n", stderr); /* leave the last line, and a clean prompt */
            progress.dirty = 0;
        }
        pthread_mutex_unlock(&stderr_lock);

        /* The first failure, in the order the ids were given. */
        for (size_t i = 0; i < job_count; i++) {
            if (jobs[i].code != BB_OK) {
                status = exit_status_of(jobs[i].code);
                break;
            }
        }
        if (stdout_failed) {
            fprintf(stderr, PROGRAM ": stdout: %s\n", strerror(stdout_failed));
            status = EXIT_IO;
        }
        if (caught_signal) {
            fprintf(stderr, PROGRAM ": %s: stopped, no partial file left\n",
                    caught_signal == SIGINT ? "interrupted" : "terminated");
            status = EXIT_SIGNAL + caught_signal;
        }
        if (made_dir) {
            rmdir(opt.extract_dir); /* only if nothing went into it */
        }
    }

    block_signals();
    bb_client_free(client);
    bb_cancel_free(cancel);
    for (size_t i = 0; i < job_count; i++) {
        free(jobs[i].path);
        free(jobs[i].output);
    }
    free(jobs);
    forget(key_from_file);
    if (fclose(stdout) != 0 && status == EXIT_ALL_OK) {
        fprintf(stderr, PROGRAM ": stdout: %s\n", strerror(errno));
        status = EXIT_IO;
    }
    return status;
}
