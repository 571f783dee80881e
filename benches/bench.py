#!/usr/bin/env python3
"""libbrowserbase benchmarks: `make bench` (or `python3 benches/bench.py`).

Everything runs on this machine over loopback against bb-stand-in-server, and
every case is measured side by side with its reference: the contenders of a
case take turns run by run (A B, B A, A B, ...), so a burst of load from
elsewhere hits both. The table quotes medians, min-max and the median of the
per-run ratios to the reference; times alone mean little on a shared machine.

Writes the results between the `bench:begin` / `bench:end` markers of
BENCHMARKS.md (the findings below them are kept), and the raw runs to
target/bench/last-run.json.

On this machine's root file system (ext4 without a journal) file creation
slows down for a few minutes after many files were deleted, in every contender
alike: do not start a run within ~6 minutes of deleting tens of thousands of
files (a previous run's cleanup included), or the small-file cases measure that.
The machine table reports a file-creation probe to tell.

Environment:
  BENCH_QUICK=1     a 64 MiB archive and 3 runs, written to
                    target/bench/BENCHMARKS.quick.md instead of BENCHMARKS.md
  BENCH_RUNS=N      runs per case (at least 5 unless quick; default 7)
  BENCH_CASES=a,b   only these cases: file, buffer, seq, par, sessions, first, wait,
                    cancel, resume, cli
                    (written to target/bench/BENCHMARKS.partial.md)
  BENCH_DIR=DIR     work directory (default: a new one in the system temp dir,
                    removed at the end); needs about 3.5 GiB free (5 GiB with
                    the sessions case)
  BENCH_NO_SDK=1    skip the official Python SDK even if it can be installed
  BENCH_SDK_VENV=D  where to install it (default: $TMPDIR/bb-bench-sdk-venv)
  BENCH_NO_BUILD=1  use the existing release build (`make build`)
  CC                the C compiler (default cc)
"""

import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The build measured: `make bench` passes its `profiling` build (release
# code with full debug information); otherwise target/release.
RELEASE = Path(os.environ.get("BENCH_BUILD_DIR") or ROOT / "target" / "release")
BENCHES = ROOT / "benches"
KEY = "bb_bench_key"
MIB = 1 << 20
GIB = 1 << 30
SMALL_SIZE = 20 * 1024
SMALL_COUNT = 2000
THREADS = 8
BB_TIME = None  # set by build()
REQWEST_BLOCKING = None  # set by build(): benches/reqwest_blocking.rs, if built

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
BIG_SIZE = 64 * MIB if QUICK else GIB
RUNS = int(os.environ.get("BENCH_RUNS", "3" if QUICK else "7"))
if not QUICK and RUNS < 5:
    sys.exit("bench: BENCH_RUNS must be at least 5 (BENCH_QUICK=1 for fewer)")
ALL_CASES = ["file", "buffer", "seq", "par", "sessions", "first", "wait", "cancel", "resume", "cli"]
# The "resume" case: an archive of this size cut once at this fraction.
RESUME_SIZE = 256 * MIB
RESUME_CUT = 0.9
# The "cli" case: bb-download over this many sessions of SMALL_SIZE, CLI_JOBS at once.
CLI_SESSIONS = 500
CLI_JOBS = 8
# Cancelled calls timed per run of the "cancel" case.
CANCEL_TRIES = 20
# The "sessions" case (issue 14 section 3): this many sessions of the small
# archive, THREADS at once, made by the stand-in server's /_control/copies
# (one archive in memory, ids SESSIONS_PREFIX0 ..); the second size is for
# peak RSS, with fewer runs (SESSIONS_BIG_RUNS).
SESSIONS_COUNTS = (500, 5000)
SESSIONS_PREFIX = "bench-session-"
SESSIONS_BIG_RUNS = 3
HAVE_BATCH = None  # set by build(): does include/browserbase.h declare bb_download_sessions?
CASES = [c for c in os.environ.get("BENCH_CASES", ",".join(ALL_CASES)).split(",") if c]
for c in CASES:
    if c not in ALL_CASES:
        sys.exit(f"bench: unknown case {c!r} in BENCH_CASES (known: {', '.join(ALL_CASES)})")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def human_size(n):
    if n >= GIB and n % GIB == 0:
        return f"{n // GIB} GiB"
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} B"


# ---------------------------------------------------------------------------
# Running and timing processes
# ---------------------------------------------------------------------------


class Run:
    """One timed process: wall time (start to exit, measured here), the time
    the program measured itself around its library calls (`inner`, when it
    prints `ok seconds=...`), and its peak RSS from wait4."""

    def __init__(self, wall, inner, maxrss_kib, extra=None):
        self.wall = wall
        self.inner = inner
        self.maxrss_kib = maxrss_kib
        self.extra = extra or {}

    def to_json(self):
        return {"wall": self.wall, "inner": self.inner, "maxrss_kib": self.maxrss_kib, **self.extra}


def run_timed(argv, env, scratch):
    """Runs argv under bb_time (see benches/bb_time.c: wall time and the
    command's own peak RSS, which a fork of this interpreter would inflate)."""
    out_path = scratch / "stdout.txt"
    err_path = scratch / "stderr.txt"
    time_path = scratch / "time.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.run([str(BB_TIME), str(time_path), *map(str, argv)],
                           stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
    if p.returncode != 0:
        sys.exit(
            f"bench: {' '.join(map(str, argv))} exited with {p.returncode}:\n"
            f"{err_path.read_text(errors='replace')}{out_path.read_text(errors='replace')}"
        )
    measured = dict(kv.split("=", 1) for kv in time_path.read_text().split())
    inner = None
    for line in out_path.read_text(errors="replace").splitlines():
        if line.startswith("ok "):
            fields = dict(kv.split("=", 1) for kv in line.split()[1:])
            inner = float(fields["seconds"])
    return Run(float(measured["wall"]), inner, int(measured["maxrss_kib"]))


def interleaved(contenders, runs, scratch):
    """Runs every contender `runs` times, taking turns: run i starts with
    contender i mod n. Each contender: (name, prepare() -> argv, check(run))."""
    results = {name: [] for name, _, _ in contenders}
    n = len(contenders)
    for i in range(runs):
        order = contenders[i % n:] + contenders[: i % n]
        for name, prepare, check in order:
            argv, env = prepare()
            r = run_timed(argv, env, scratch)
            check(r)
            results[name].append(r)
        log(
            f"  run {i + 1}/{runs}: "
            + ", ".join(
                f"{name} {results[name][-1].wall:.3f}s"
                + (f" (in-call {results[name][-1].inner:.3f}s)" if results[name][-1].inner else "")
                for name, _, _ in contenders
            )
        )
    return results


# ---------------------------------------------------------------------------
# Statistics and the table
# ---------------------------------------------------------------------------


def med(xs):
    return statistics.median(xs)


def fmt_s(x):
    if x >= 10:
        return f"{x:.2f} s"
    if x >= 1:
        return f"{x:.3f} s"
    return f"{x * 1000:.1f} ms" if x < 0.1 else f"{x:.3f} s"


def fmt_range(xs, fmt=fmt_s):
    return f"{fmt(min(xs))} – {fmt(max(xs))}"


def paired_ratio(a, b):
    """Median of the per-run ratios a[i] / b[i], and their min and max."""
    rs = [x / y for x, y in zip(a, b)]
    return med(rs), min(rs), max(rs)


class Table:
    def __init__(self):
        self.rows = []
        self.notes = []

    def row(self, case, contender, median, rng, ratio, target, verdict):
        self.rows.append((case, contender, median, rng, ratio, target, verdict))

    def markdown(self):
        out = [
            "| case | contender | median | min – max | ratio (median of per-run ratios, min – max) | target | met? |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in self.rows:
            out.append("| " + " | ".join(r) + " |")
        return "\n".join(out)


def verdict(ok):
    return "**yes**" if ok else "**MISS**"


def ratio_text(r, ref):
    m, lo, hi = r
    return f"{m:.2f}× {ref} ({lo:.2f} – {hi:.2f})"


# ---------------------------------------------------------------------------
# Set-up: build, archives, server, SDK
# ---------------------------------------------------------------------------


def sh(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


def build(work):
    if os.environ.get("BENCH_NO_BUILD", "") in ("", "0"):
        log("building the release library and server (make build)")
        sh(["make", "-s", "-C", str(ROOT), "build"])
    lib = RELEASE / "libbrowserbase.so"
    if not lib.exists() or not (RELEASE / "bb-stand-in-server").exists():
        sys.exit("bench: no release build in target/release (run `make build`)")
    soname = RELEASE / "libbrowserbase.so.0"
    if not soname.exists():
        soname.symlink_to("libbrowserbase.so")
    cc = os.environ.get("CC", "cc")
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{ROOT / 'include'}"]
    sh([cc, *flags, str(BENCHES / "bb_bench.c"), "-o", str(work / "bb_bench"),
        f"-L{RELEASE}", "-lbrowserbase", "-lpthread", f"-Wl,-rpath,{RELEASE}"])
    sh([cc, *flags, str(BENCHES / "bb_first.c"), "-o", str(work / "bb_first"), "-ldl"])
    sh([cc, *flags, str(BENCHES / "bb_cancel.c"), "-o", str(work / "bb_cancel"),
        f"-L{RELEASE}", "-lbrowserbase", "-lpthread", f"-Wl,-rpath,{RELEASE}"])
    global BB_TIME, REQWEST_BLOCKING, HAVE_BATCH
    # The sessions case's batch contender needs bb_download_sessions (issue 14
    # part 1); without it bb_sessions refuses its batch mode (see there).
    HAVE_BATCH = re.search(r"\bbb_download_sessions\s*\(", (ROOT / "include" / "browserbase.h").read_text()) is not None
    sh([cc, *flags, *(["-DBB_HAVE_DOWNLOAD_SESSIONS"] if HAVE_BATCH else []), str(BENCHES / "bb_sessions.c"),
        "-o", str(work / "bb_sessions"), f"-L{RELEASE}", "-lbrowserbase", "-lpthread", f"-Wl,-rpath,{RELEASE}"])
    # bb-download (tools/bb-download.c), measured against the same build.
    sh([cc, *flags, "-Wpedantic", str(ROOT / "tools" / "bb-download.c"), "-o", str(work / "bb-download"),
        f"-L{RELEASE}", "-lbrowserbase", "-lpthread", "-lm", f"-Wl,-rpath,{RELEASE}"])
    # The design card's transport, built by `make bench` (cargo puts a bench
    # program in deps/ under a hashed name): the newest one.
    found = sorted((p for p in (RELEASE / "deps").glob("reqwest_blocking-*")
                    if p.is_file() and os.access(p, os.X_OK) and p.suffix == ""),
                   key=lambda p: p.stat().st_mtime)
    REQWEST_BLOCKING = str(found[-1]) if found else None
    if REQWEST_BLOCKING is None:
        log("no reqwest_blocking program (run `make bench`): its rows are left out")
    BB_TIME = work / "bb_time"
    sh([cc, *flags, str(BENCHES / "bb_time.c"), "-o", str(BB_TIME)])


def stored_zip(path, name, data_size, chunk=16 * MIB):
    """A ZIP archive with one stored (uncompressed) entry of random bytes."""
    info = zipfile.ZipInfo(name, date_time=(2024, 6, 24, 21, 49, 57))
    info.compress_type = zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        with z.open(info, "w", force_zip64=data_size >= 0xFFFFFFFF - 1024) as f:
            left = data_size
            while left:
                n = min(chunk, left)
                f.write(os.urandom(n))
                left -= n


def make_archives(sessions):
    big = sessions / "big.zip"
    if "file" in CASES or "buffer" in CASES:
        log(f"writing a {human_size(BIG_SIZE)} archive of random data (stored)")
        stored_zip(big, "data-1719265797164.bin", BIG_SIZE)
    else:
        big.write_bytes(b"")  # not measured in this run
    if "resume" in CASES:
        log(f"writing a {human_size(RESUME_SIZE)} archive of random data (stored)")
        stored_zip(sessions / "resume.zip", "data-1719265797164.bin", RESUME_SIZE)
    small = sessions / "small.zip"
    name = "page-1719265797164.bin"
    stored_zip(small, name, SMALL_SIZE)
    overhead = small.stat().st_size - SMALL_SIZE
    stored_zip(small, name, SMALL_SIZE - overhead)  # the whole archive: exactly 20 KiB
    for sid in ("ready-1500", "ready-10000", "stall"):
        shutil.copyfile(small, sessions / f"{sid}.zip")
    if "cli" in CASES:
        for i in range(CLI_SESSIONS):
            os.link(small, sessions / f"s{i}.zip")  # hard links: no disk
    # Written back now rather than during the first runs.
    os.sync()
    return big.stat().st_size, small.stat().st_size


class Server:
    def __init__(self, sessions):
        exe = RELEASE / "bb-stand-in-server"
        self.proc = subprocess.Popen(
            [str(exe), "--sessions", str(sessions), "--api-key", KEY, "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening "):
            sys.exit(f"bench: the stand-in server did not start: {line!r}")
        self.base = line.split()[1]

    def url(self, sid):
        return f"{self.base}/v1/sessions/{sid}/downloads"

    def control(self, method, path, body=None):
        req = urllib.request.Request(f"{self.base}/_control/{path}", data=body, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read().decode()

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def install_sdk():
    """The official SDK in a venv outside the repository; None when it cannot be had."""
    if os.environ.get("BENCH_NO_SDK", "") not in ("", "0"):
        return None, "skipped (BENCH_NO_SDK=1)"
    venv = Path(os.environ.get("BENCH_SDK_VENV", Path(tempfile.gettempdir()) / "bb-bench-sdk-venv"))
    py = venv / "bin" / "python"
    try:
        if not py.exists():
            log(f"installing the official Python SDK into {venv} (pip install browserbase)")
            sh([sys.executable, "-m", "venv", str(venv)], stdout=subprocess.DEVNULL)
        probe = subprocess.run([str(py), "-c", "import browserbase; print(browserbase.__version__)"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            sh([str(py), "-m", "pip", "install", "-q", "browserbase"], stdout=subprocess.DEVNULL)
            probe = subprocess.run([str(py), "-c", "import browserbase; print(browserbase.__version__)"],
                                   capture_output=True, text=True, check=True)
        return py, probe.stdout.strip()
    except (subprocess.CalledProcessError, OSError) as e:
        return None, f"could not be installed ({e})"


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"

    def first_line(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "?"

    return {
        "cpus (nproc)": str(os.cpu_count()),
        "cpu": model,
        "memory": mem,
        "kernel": f"{platform.system()} {platform.release()}",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "rustc": first_line(["rustc", "-V"]),
        "curl": first_line(["curl", "-V"]),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def file_creation_probe(parent, n=500):
    """Microseconds per creation of an empty file in a new directory: high
    values mean the file system is still slowed by recent mass deletions."""
    d = parent / "probe"
    d.mkdir()
    t0 = time.perf_counter()
    for i in range(n):
        os.close(os.open(d / f"f{i}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
    return (time.perf_counter() - t0) / n * 1e6


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------


def main():
    started = time.time()
    base_tmp = os.environ.get("BENCH_DIR")
    if base_tmp:
        work = Path(base_tmp)
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="bb-bench-"))
    need = int(3.3 * BIG_SIZE) + 256 * MIB
    if "sessions" in CASES:  # every run's files stay until the end (fresh_dir): ~1.5 GiB
        n_small, n_big = SESSIONS_COUNTS
        need += 4 * SMALL_SIZE * ((RUNS + 1) * n_small + min(RUNS, SESSIONS_BIG_RUNS) * n_big)
    free = shutil.disk_usage(work).free
    if free < need:
        sys.exit(f"bench: {work} has {free / GIB:.1f} GiB free; the benchmarks need {need / GIB:.1f} GiB")
    sessions = work / "sessions"
    out = work / "out"
    scratch = work / "scratch"
    for d in (sessions, out, scratch):
        d.mkdir(exist_ok=True)
    server = None
    try:
        build(work)
        if "sessions" in CASES:
            # --parallel and --parallel-max came with curl 7.66.0.
            line = subprocess.run(["curl", "-V"], capture_output=True, text=True).stdout
            found = re.match(r"curl (\d+)\.(\d+)", line)
            if not found or tuple(map(int, found.groups())) < (7, 66):
                sys.exit(f"bench: case sessions needs curl 7.66 or later (--parallel); found {line[:40]!r}")
        if "sessions" in CASES and not HAVE_BATCH:
            # Loudly, before anything is measured: a stand-in for the batch call
            # would put someone else's numbers in its row.
            sys.exit("bench: case sessions: include/browserbase.h declares no bb_download_sessions "
                     "(issue 14 part 1), so the library's contender cannot run; nothing was measured. "
                     "Leave `sessions` out of BENCH_CASES until the library has it.")
        big_size, small_size = make_archives(sessions)
        server = Server(sessions)
        log(f"stand-in server at {server.base}")
        sdk_py, sdk_version = (None, "not run (case not selected)")
        if "file" in CASES or "seq" in CASES or "sessions" in CASES:
            sdk_py, sdk_version = install_sdk()
        log(f"official Python SDK: {sdk_version}")
        env = dict(os.environ, BROWSERBASE_BASE_URL=server.base, BROWSERBASE_API_KEY=KEY)
        for k in ("BROWSERBASE_LOG", "BROWSERBASE_DEADLINE_MS", "BROWSERBASE_PROXY", "BROWSERBASE_FSYNC"):
            env.pop(k, None)
        info = machine()
        probe = file_creation_probe(out)
        info["file creation probe"] = (
            f"{probe:.0f} µs per empty file"
            + (" (slowed: many files were deleted in the last minutes; the small-file cases suffer too)"
               if probe > 100 else "")
        )
        log(f"file creation probe: {probe:.0f} µs per file")
        table = Table()
        raw = {}
        bb = str(work / "bb_bench")
        curl_head = ["curl", "-s", "-f", "-H", f"X-BB-API-Key: {KEY}", "-H", "Accept: application/zip"]

        def expect_file(path, size):
            def check(_run):
                got = path.stat().st_size if path.exists() else None
                if got != size:
                    sys.exit(f"bench: {path} has {got} bytes, expected {size}")
                path.unlink()
            return check

        # The many-small-files cases write each run into a new directory and
        # delete nothing until the end: ext4 without a journal (this machine's
        # root) skips inodes deleted in the last minute when it allocates new
        # ones, scanning past every one of them, so deleting 2,000 files per
        # run made file creation, in every contender alike, the bulk of the time.
        def fresh_dir(d):
            """Points the symlink `d` (which the command lines name) at a new directory."""
            fresh_dir.n += 1
            real = out / f"{d.name}-{fresh_dir.n}"
            real.mkdir()
            if d.is_symlink():
                d.unlink()
            d.symlink_to(real)

        fresh_dir.n = 0

        def expect_files(d, count, size):
            def check(_run):
                files = list(d.iterdir())
                bad = [f for f in files if f.stat().st_size != size]
                if len(files) != count or bad:
                    sys.exit(f"bench: {d} has {len(files)} files ({len(bad)} of the wrong size), expected {count}")
            return check

        # ---- one big archive to a file -----------------------------------
        if "file" in CASES:
            case = f"one {human_size(BIG_SIZE)} archive to a file"
            log(case)
            target = out / "big.zip"

            def prep(argv):
                def prepare():
                    if target.exists():
                        target.unlink()
                    return argv, env
                return prepare

            contenders = [
                ("libbrowserbase", prep([bb, "file", "big", str(target)]), expect_file(target, big_size)),
                ("curl", prep([*curl_head, "-o", str(target), server.url("big")]), expect_file(target, big_size)),
                # conv=notrunc: the output never exists beforehand, and dd's ftruncate(0)
                # would only make ext4 flush the file at close (auto_da_alloc).
                ("dd bs=1M", prep(["dd", f"if={sessions / 'big.zip'}", f"of={target}", "bs=1M", "conv=notrunc", "status=none"]),
                 expect_file(target, big_size)),
                ("dd bs=256K", prep(["dd", f"if={sessions / 'big.zip'}", f"of={target}", "bs=256K", "conv=notrunc", "status=none"]),
                 expect_file(target, big_size)),
                ("libbrowserbase, to a callback that drops the bytes", prep([bb, "null", "big"]), lambda r: None),
                *([("reqwest::blocking", prep([REQWEST_BLOCKING, "file", "big", str(target)]),
                    expect_file(target, big_size))] if REQWEST_BLOCKING else []),
                ("curl -o /dev/null", prep([*curl_head, "-o", "/dev/null", server.url("big")]), lambda r: None),
            ]
            if sdk_py:
                contenders.append(("official Python SDK", prep([str(sdk_py), str(BENCHES / "sdk_bench.py"), "file", "big", str(target)]),
                                   expect_file(target, big_size)))
            # One untimed round: warm caches, connections, the SDK's .pyc files.
            interleaved(contenders, 1, scratch)
            res = interleaved(contenders, RUNS, scratch)
            raw["file"] = {k: [r.to_json() for r in v] for k, v in res.items()}
            w = {k: [r.wall for r in v] for k, v in res.items()}
            lib, crl, dd = w["libbrowserbase"], w["curl"], w["dd bs=1M"]
            d256 = w["dd bs=256K"]
            r_curl = paired_ratio(lib, crl)
            # The dd verdict is against the faster of the two dd runs of each
            # round: this VM's page cache sometimes slows one block size 5-10x
            # for a while (BENCHMARKS.md), and a floor that was slowed is no
            # floor. Never easier than against bs=1M alone.
            floor = [min(a, b) for a, b in zip(dd, d256)]
            r_dd = paired_ratio(lib, floor)
            table.row(case, "libbrowserbase (`bb_client_download`)", fmt_s(med(lib)), fmt_range(lib),
                      ratio_text(r_curl, "curl"), "≤ 0.50× curl", verdict(r_curl[0] <= 0.5))
            table.row(case, "″", "", "", ratio_text(r_dd, "dd") + ", against the faster dd (bs=1M or 256K) of each round",
                      "≤ 1.30× dd", verdict(r_dd[0] <= 1.3))
            table.row(case, "`curl -s -o FILE URL` (reference)", fmt_s(med(crl)), fmt_range(crl), "1", "", "")
            if REQWEST_BLOCKING:
                rbw = w["reqwest::blocking"]
                table.row(case, "plain `reqwest::blocking` client to a file (the design card's transport)",
                          fmt_s(med(rbw)), fmt_range(rbw),
                          "libbrowserbase: " + ratio_text(paired_ratio(lib, rbw), "this"), "≤ 1× this",
                          verdict(paired_ratio(lib, rbw)[0] <= 1))
            table.row(case, "`dd bs=1M conv=notrunc` file to file, no network (the floor)", fmt_s(med(dd)), fmt_range(dd),
                      ratio_text(paired_ratio(dd, crl), "curl"), "", "")
            table.row(case, "`dd bs=256K conv=notrunc`, the same copy in smaller writes", fmt_s(med(d256)),
                      fmt_range(d256), "libbrowserbase: " + ratio_text(paired_ratio(lib, d256), "this"), "", "")
            nl, nc = w["libbrowserbase, to a callback that drops the bytes"], w["curl -o /dev/null"]
            table.row(case, "diagnostic: libbrowserbase to a callback that drops the bytes", fmt_s(med(nl)),
                      fmt_range(nl), ratio_text(paired_ratio(nl, nc), "curl -o /dev/null"), "", "")
            table.row(case, "diagnostic: `curl -o /dev/null` (network path and server alone)", fmt_s(med(nc)),
                      fmt_range(nc), f"{big_size / med(nc) / GIB:.2f} GiB/s", "", "")
            rss = [r.maxrss_kib for r in res["libbrowserbase"]]
            crss = [r.maxrss_kib for r in res["curl"]]
            table.row(f"peak RSS of that download (whole process)", "libbrowserbase", f"{med(rss) / 1024:.1f} MiB",
                      fmt_range(rss, lambda k: f"{k / 1024:.1f} MiB"), f"curl: {med(crss) / 1024:.1f} MiB",
                      "≤ 16 MiB", verdict(max(rss) <= 16 * 1024))
            if sdk_py:
                sdk = [r.inner for r in res["official Python SDK"]]
                libi = [r.inner for r in res["libbrowserbase"]]
                r_sdk = paired_ratio(libi, sdk)
                table.row(case + " — in-call time", "libbrowserbase", fmt_s(med(libi)), fmt_range(libi),
                          ratio_text(r_sdk, "SDK"), "< 1× SDK", verdict(r_sdk[0] < 1))
                table.row(case + " — in-call time", f"official Python SDK {sdk_version}, streamed (reference)",
                          fmt_s(med(sdk)), fmt_range(sdk), "1", "", "")
            else:
                table.row(case, "official Python SDK", "", "", "", "< 1× SDK", f"not run: {sdk_version}")

        # ---- the same archive to a buffer ------------------------------------
        if "buffer" in CASES:
            case = f"the same {human_size(BIG_SIZE)} archive to a buffer"
            log(case)
            contenders = [("libbrowserbase", lambda: ([bb, "buffer", "big"], env), lambda r: None)]
            interleaved(contenders, 1, scratch)
            res = interleaved(contenders, RUNS, scratch)
            raw["buffer"] = {k: [r.to_json() for r in v] for k, v in res.items()}
            rss = [r.maxrss_kib * 1024 for r in res["libbrowserbase"]]
            t = [r.wall for r in res["libbrowserbase"]]
            ratio = max(rss) / big_size
            table.row(case, "libbrowserbase (`bb_client_download_to_buffer`): peak RSS",
                      f"{med(rss) / MIB:.1f} MiB", fmt_range(rss, lambda b: f"{b / MIB:.1f} MiB"),
                      f"{ratio:.3f}× the archive (largest run)", "≤ 1.10× the archive", verdict(ratio <= 1.1))
            table.row(case, "″ time", fmt_s(med(t)), fmt_range(t), "", "", "")

        # ---- 2,000 small downloads one after another -----------------------
        def many_urls_config(path, outdir, prefix):
            with open(path, "w") as f:
                for i in range(SMALL_COUNT):
                    f.write(f'url = "{server.url("small")}"\noutput = "{outdir}/{prefix}-{i}.zip"\n')

        if "seq" in CASES:
            case = f"{SMALL_COUNT:,} downloads of a {human_size(small_size)} archive, one after another, one process"
            log(case)
            d = out / "seq"
            cfg = work / "curl-seq.txt"
            many_urls_config(cfg, d, "c")

            def prep_dir(argv):
                def prepare():
                    fresh_dir(d)
                    return argv, env
                return prepare

            contenders = [
                ("libbrowserbase", prep_dir([bb, "seq", "small", str(SMALL_COUNT), str(d)]),
                 expect_files(d, SMALL_COUNT, small_size)),
                ("curl", prep_dir([*curl_head, "-K", str(cfg)]), expect_files(d, SMALL_COUNT, small_size)),
            ]
            if REQWEST_BLOCKING:
                contenders.append(("reqwest::blocking",
                                   prep_dir([REQWEST_BLOCKING, "seq", "small", str(SMALL_COUNT), str(d)]),
                                   expect_files(d, SMALL_COUNT, small_size)))
            if sdk_py:
                contenders.append(("official Python SDK",
                                   prep_dir([str(sdk_py), str(BENCHES / "sdk_bench.py"), "seq", "small", str(SMALL_COUNT), str(d)]),
                                   expect_files(d, SMALL_COUNT, small_size)))
            interleaved(contenders, 1, scratch)
            res = interleaved(contenders, RUNS, scratch)
            raw["seq"] = {k: [r.to_json() for r in v] for k, v in res.items()}
            lib = [r.wall for r in res["libbrowserbase"]]
            crl = [r.wall for r in res["curl"]]
            r_curl = paired_ratio(lib, crl)
            table.row(case, "libbrowserbase (one `bb_client`, `bb_client_download` in a loop)", fmt_s(med(lib)),
                      fmt_range(lib), ratio_text(r_curl, "curl"), "≤ 1× curl", verdict(r_curl[0] <= 1))
            table.row(case, f"one `curl` process given the {SMALL_COUNT:,} URLs, `-o` each (reference)",
                      fmt_s(med(crl)), fmt_range(crl), "1", "", "")
            if REQWEST_BLOCKING:
                # The design card's transport against the one the library uses
                # (README, Design): in-call times, same work, same client reuse.
                rb = [r.inner for r in res["reqwest::blocking"]]
                libi = [r.inner for r in res["libbrowserbase"]]
                r_rb = paired_ratio(libi, rb)
                table.row(case + " — in-call time", "libbrowserbase (reqwest's async client on the calling thread)",
                          fmt_s(med(libi)), fmt_range(libi), ratio_text(r_rb, "reqwest::blocking"),
                          "≤ 1× reqwest::blocking", verdict(r_rb[0] <= 1))
                table.row(case + " — in-call time",
                          "plain `reqwest::blocking` loop, one client (benches/reqwest_blocking.rs, reference)",
                          fmt_s(med(rb)), fmt_range(rb), "1", "", "")
            if sdk_py:
                sdk = [r.inner for r in res["official Python SDK"]]
                libi = [r.inner for r in res["libbrowserbase"]]
                r_sdk = paired_ratio(libi, sdk)
                table.row(case + " — in-call time", "libbrowserbase", fmt_s(med(libi)), fmt_range(libi),
                          ratio_text(r_sdk, "SDK"), "< 1× SDK", verdict(r_sdk[0] < 1))
                table.row(case + " — in-call time",
                          f"official Python SDK {sdk_version}, `.list(id).write_to_file()` in a loop (reference)",
                          fmt_s(med(sdk)), fmt_range(sdk), "1", "", "")
            else:
                table.row(case, "official Python SDK", "", "", "", "< 1× SDK", f"not run: {sdk_version}")

        # ---- 8 threads x 250 at once -----------------------------------------
        if "par" in CASES:
            per = SMALL_COUNT // THREADS
            case = f"{THREADS} threads × {per} downloads of {human_size(small_size)} at once"
            log(case)
            d = out / "par"
            cfg = work / "curl-par.txt"
            many_urls_config(cfg, d, "c")

            def prep_dir(argv):
                def prepare():
                    fresh_dir(d)
                    return argv, env
                return prepare

            contenders = [
                ("libbrowserbase", prep_dir([bb, "par", "small", str(THREADS), str(per), str(d)]),
                 expect_files(d, SMALL_COUNT, small_size)),
                ("curl", prep_dir([*curl_head, "--parallel", "--parallel-max", str(THREADS), "-K", str(cfg)]),
                 expect_files(d, SMALL_COUNT, small_size)),
            ]
            interleaved(contenders, 1, scratch)
            res = interleaved(contenders, RUNS, scratch)
            raw["par"] = {k: [r.to_json() for r in v] for k, v in res.items()}
            lib = [r.wall for r in res["libbrowserbase"]]
            crl = [r.wall for r in res["curl"]]
            r_curl = paired_ratio(lib, crl)
            table.row(case, "libbrowserbase (one shared `bb_client`)", fmt_s(med(lib)), fmt_range(lib),
                      ratio_text(r_curl, "curl"), "≤ 1× curl", verdict(r_curl[0] <= 1))
            table.row(case, f"`curl --parallel --parallel-max {THREADS}` over the same URLs (reference)",
                      fmt_s(med(crl)), fmt_range(crl), "1", "", "")

        # ---- many sessions in one call, 8 at once (issue 14 section 3) ------
        if "sessions" in CASES:
            small_bytes = (sessions / "small.zip").read_bytes()
            server.control("PUT", f"copies/{SESSIONS_PREFIX}/{max(SESSIONS_COUNTS)}", small_bytes)
            sessions_bin = str(work / "bb_sessions")
            runs_dir = {"n": 0}

            def sessions_contenders(count):
                """(name, prepare, check) for `count` sessions: every run writes
                into a new directory (see fresh_dir) named on its command line,
                and its check wants exactly <id>.zip for every id, each the
                archive byte for byte, and nothing else (no temporary files)."""
                expected = {f"{SESSIONS_PREFIX}{i}.zip" for i in range(count)}
                where = {}

                def prep(name, argv_for):
                    def prepare():
                        runs_dir["n"] += 1
                        d = out / f"sessions-{count}-{runs_dir['n']}"
                        d.mkdir()
                        where[name] = d
                        server.control("DELETE", "requests")
                        prepare.conns = int(server.control("GET", "connections/count"))
                        return argv_for(d), env
                    return prepare

                def check_for(name, prepare):
                    def check(run):
                        d = where[name]
                        names = set(os.listdir(d))
                        if names != expected:
                            missing, extra = sorted(expected - names), sorted(names - expected)
                            sys.exit(f"bench: {name} left {d} with {len(names)} files, expected {count}: "
                                     f"missing {missing[:3]}, unexpected {extra[:3]}")
                        bad = [n for n in sorted(names) if (d / n).read_bytes() != small_bytes]
                        if bad:
                            sys.exit(f"bench: {name}: {len(bad)} files in {d} differ from the archive, e.g. {bad[:3]}")
                        # Less this control call's own connection.
                        run.extra["connections"] = int(server.control("GET", "connections/count")) - prepare.conns - 1
                        # Retries would show here (none expected on loopback).
                        run.extra["requests"] = int(server.control("GET", "requests/count"))
                    return check

                def curl_argv(d):
                    cfg = d.parent / f"{d.name}.curl"  # the key stays off the command line
                    with open(cfg, "w") as f:
                        f.write(f'header = "X-BB-API-Key: {KEY}"\nheader = "Accept: application/zip"\n')
                        for i in range(count):
                            sid = f"{SESSIONS_PREFIX}{i}"
                            f.write(f'url = "{server.url(sid)}"\noutput = "{d}/{sid}.zip"\n')
                    return ["curl", "-s", "-f", "--parallel", "--parallel-max", str(THREADS), "-K", str(cfg)]

                argvs = [
                    ("libbrowserbase", lambda d: [sessions_bin, "batch", SESSIONS_PREFIX, str(count), str(d), str(THREADS)]),
                    ("curl", curl_argv),
                    ("thread pool", lambda d: [sessions_bin, "threads", SESSIONS_PREFIX, str(count), str(d), str(THREADS)]),
                ]
                if sdk_py:
                    argvs.append(("official Python SDK", lambda d: [str(sdk_py), str(BENCHES / "sdk_bench.py"), "many",
                                                                   SESSIONS_PREFIX, str(count), str(d), str(THREADS)]))
                contenders = []
                for name, argv_for in argvs:
                    prepare = prep(name, argv_for)
                    contenders.append((name, prepare, check_for(name, prepare)))
                return contenders

            n_small, n_big = SESSIONS_COUNTS
            case = f"{n_small} sessions × {human_size(small_size)}, {THREADS} at once"
            log(case)
            contenders = sessions_contenders(n_small)
            interleaved(contenders, 1, scratch)
            res = interleaved(contenders, RUNS, scratch)
            raw[f"sessions-{n_small}"] = {k: [r.to_json() for r in v] for k, v in res.items()}
            big_runs = min(RUNS, SESSIONS_BIG_RUNS)
            log(f"{n_big} sessions × {human_size(small_size)}, {THREADS} at once ({big_runs} runs, for peak RSS)")
            res_big = interleaved(sessions_contenders(n_big), big_runs, scratch)
            raw[f"sessions-{n_big}"] = {k: [r.to_json() for r in v] for k, v in res_big.items()}

            def walls(r, name):
                return [x.wall for x in r[name]]

            lib, crl, pool = walls(res, "libbrowserbase"), walls(res, "curl"), walls(res, "thread pool")
            r_curl = paired_ratio(lib, crl)
            # Connections the server accepted per run: curl without --parallel-immediate
            # sometimes starts on fewer while it learns whether the first can multiplex.
            conns = {}
            for k, v in res.items():
                c = [x.extra["connections"] for x in v]
                conns[k] = f"{min(c)}" if min(c) == max(c) else f"{min(c)}–{max(c)}"
            table.row(case, f"libbrowserbase (`bb_download_sessions`, concurrency {THREADS}; "
                            f"{conns['libbrowserbase']} connections)",
                      fmt_s(med(lib)), fmt_range(lib), ratio_text(r_curl, "curl"), "≤ 0.80× curl", verdict(r_curl[0] <= 0.8))
            table.row(case, f"`curl --parallel --parallel-max {THREADS}`, one process, the {n_small} URLs in a "
                            f"config file (reference; {conns['curl']} connections)",
                      fmt_s(med(crl)), fmt_range(crl), "1", "", "")
            table.row(case, f"libbrowserbase without the batch call: {THREADS} threads sharing one `bb_client`, "
                            f"`bb_client_download` per id ({conns['thread pool']} connections)",
                      fmt_s(med(pool)), fmt_range(pool),
                      ratio_text(paired_ratio(pool, crl), "curl") + "; batch: "
                      + ratio_text(paired_ratio(lib, pool), "this"), "", "")
            if sdk_py:
                sdk = [x.inner for x in res["official Python SDK"]]
                sdkw = walls(res, "official Python SDK")
                libi = [x.inner for x in res["libbrowserbase"]]
                table.row(case + " — in-call time", "libbrowserbase", fmt_s(med(libi)), fmt_range(libi),
                          ratio_text(paired_ratio(libi, sdk), "SDK"), "", "")
                table.row(case + " — in-call time",
                          f"official Python SDK {sdk_version}, `ThreadPoolExecutor({THREADS})` over "
                          f"`.list(id).write_to_file()`, one client (reference; {conns['official Python SDK']} "
                          f"connections; whole process {fmt_s(med(sdkw))})",
                          fmt_s(med(sdk)), fmt_range(sdk), "1", "", "")
            else:
                table.row(case, "official Python SDK", "", "", "", "", f"not run: {sdk_version}")

            def rss(r, name):
                return [x.maxrss_kib for x in r[name]]

            def mib(k):
                return f"{k / 1024:.1f} MiB"

            lib_small, lib_big = rss(res, "libbrowserbase"), rss(res_big, "libbrowserbase")
            for n, r, nruns in ((n_small, res, RUNS), (n_big, res_big, big_runs)):
                others = ", ".join(f"{k}: {mib(med(rss(r, k)))}" for k in r if k != "libbrowserbase")
                lr = rss(r, "libbrowserbase")
                table.row(f"peak RSS (whole process), {n:,} sessions × {human_size(small_size)}, {THREADS} at once",
                          f"libbrowserbase (`bb_download_sessions`; {nruns} runs)", mib(med(lr)),
                          fmt_range(lr, mib), others, "≤ 16 MiB", verdict(max(lr) <= 16 * 1024))
            table.row(f"peak RSS, {n_big:,} against {n_small} sessions", "libbrowserbase",
                      f"{med(lib_big) / med(lib_small):.2f}×", "", "", "flat", "")
            lb, cb = walls(res_big, "libbrowserbase"), walls(res_big, "curl")
            table.row(f"{n_big:,} sessions × {human_size(small_size)}, {THREADS} at once ({big_runs} runs)",
                      "libbrowserbase (`bb_download_sessions`)", fmt_s(med(lb)), fmt_range(lb),
                      ratio_text(paired_ratio(lb, cb), "curl") + f"; curl {fmt_s(med(cb))}", "", "")

        # ---- bb-download, many sessions at once ------------------------------
        if "cli" in CASES:
            case = (f"`bb-download -j {CLI_JOBS}`: {CLI_SESSIONS} sessions × "
                    f"{human_size(small_size)}, {CLI_JOBS} at once")
            log(case)
            d = out / "cli"
            ids = [f"s{i}" for i in range(CLI_SESSIONS)]
            cfg = work / "curl-cli.txt"
            with open(cfg, "w") as f:
                for sid in ids:
                    f.write(f'url = "{server.url(sid)}"\noutput = "{d}/{sid}.zip"\n')

            def prep_cli(argv):
                def prepare():
                    fresh_dir(d)
                    return argv, env
                return prepare

            contenders = [
                ("bb-download", prep_cli([str(work / "bb-download"), "-q", "-j", str(CLI_JOBS), "-d", str(d), *ids]),
                 expect_files(d, CLI_SESSIONS, small_size)),
                ("library call", prep_cli([str(work / "bb_sessions"), "batch", "s", str(CLI_SESSIONS), str(d), str(CLI_JOBS)]),
                 expect_files(d, CLI_SESSIONS, small_size)),
                ("curl", prep_cli([*curl_head, "--parallel", "--parallel-max", str(CLI_JOBS), "-K", str(cfg)]),
                 expect_files(d, CLI_SESSIONS, small_size)),
            ]
            interleaved(contenders, 1, scratch)
            res = interleaved(contenders, RUNS, scratch)
            raw["cli"] = {k: [r.to_json() for r in v] for k, v in res.items()}
            tool = [r.wall for r in res["bb-download"]]
            lib = [r.wall for r in res["library call"]]
            crl = [r.wall for r in res["curl"]]
            r_lib = paired_ratio(tool, lib)
            r_curl = paired_ratio(tool, crl)
            table.row(case, f"`bb-download -q -j {CLI_JOBS} -d DIR ID...`", fmt_s(med(tool)), fmt_range(tool),
                      ratio_text(r_lib, "library call"), "≤ 1.10× library call", verdict(r_lib[0] <= 1.10))
            table.row(case, "", "", "", ratio_text(r_curl, "curl"), "≤ 0.90× curl", verdict(r_curl[0] <= 0.90))
            table.row(case, f"the library call: `bb_client_download_sessions`, concurrency {CLI_JOBS} (benches/bb_sessions.c, reference)",
                      fmt_s(med(lib)), fmt_range(lib), "1", "", "")
            table.row(case, f"`curl --parallel --parallel-max {CLI_JOBS}` over the same URLs (reference)",
                      fmt_s(med(crl)), fmt_range(crl), "1", "", "")

        # ---- first call after dlopen -----------------------------------------
        if "first" in CASES:
            case = "first call after `dlopen` (process start to first archive saved)"
            log(case)
            target = out / "first.zip"

            def prep_first(argv):
                def prepare():
                    if target.exists():
                        target.unlink()
                    return argv, env
                return prepare

            contenders = [
                ("libbrowserbase", prep_first([str(work / "bb_first"), str(RELEASE / "libbrowserbase.so.0"), "small", str(target)]),
                 expect_file(target, small_size)),
                ("curl", prep_first([*curl_head, "-o", str(target), server.url("small")]), expect_file(target, small_size)),
            ]
            runs = max(RUNS, 5 if QUICK else 15)
            interleaved(contenders, 1, scratch)
            res = interleaved(contenders, runs, scratch)
            raw["first"] = {k: [r.to_json() for r in v] for k, v in res.items()}
            lib = [r.wall for r in res["libbrowserbase"]]
            crl = [r.wall for r in res["curl"]]
            r_curl = paired_ratio(lib, crl)
            table.row(case, f"libbrowserbase (`dlopen`, `bb_download_session`; {runs} runs)", fmt_s(med(lib)),
                      fmt_range(lib), ratio_text(r_curl, "curl"), "≤ 1.5× curl", verdict(r_curl[0] <= 1.5))
            table.row(case, "`curl -s -o FILE URL` (reference)", fmt_s(med(crl)), fmt_range(crl), "1", "", "")

        # ---- ready-detection latency -----------------------------------------
        if "wait" in CASES:
            for t_ms, late_max in ((1500, 0.5), (10000, 2.0)):
                sid = f"ready-{t_ms}"
                case = f"ready detection, archive non-empty {t_ms / 1000:g} s after the first poll"
                log(case)
                target = out / "wait.zip"
                polls = []

                def prepare():
                    if target.exists():
                        target.unlink()
                    prepare.before = int(server.control("GET", "requests/count"))
                    server.control("POST", f"sessions/{sid}/ready-after-ms", str(t_ms).encode())
                    return [bb, "wait", sid, "60000", str(target)], env

                def check(run):
                    expect_file(target, small_size)(run)
                    polls.append(int(server.control("GET", "requests/count")) - prepare.before)

                res = interleaved([("libbrowserbase", prepare, check)], RUNS, scratch)
                raw[f"wait-{t_ms}"] = {"libbrowserbase": [dict(r.to_json(), polls=p) for r, p in zip(res["libbrowserbase"], polls)]}
                t = t_ms / 1000
                late = [r.inner - t for r in res["libbrowserbase"]]
                rate = [p / r.inner for r, p in zip(res["libbrowserbase"], polls)]
                table.row(case, "libbrowserbase (`bb_wait_for_downloads`): returned late by",
                          fmt_s(med(late)), fmt_range(late), f"{med([r.inner / t for r in res['libbrowserbase']]):.2f}× T",
                          f"≤ {late_max:g} s late", verdict(med(late) <= late_max))
                table.row(case, "″ polls per call (per second)", f"{med(polls):g} ({med(rate):.2f}/s)",
                          f"{min(polls)} – {max(polls)}", "", "about ≤ 1/s over a long wait" if t_ms >= 10000 else "",
                          verdict(med(rate) <= 1.05) if t_ms >= 10000 else "")

        # ---- cancellation latency ---------------------------------------------
        if "cancel" in CASES:
            case = "cancel: `bb_cancel_trigger` to the call's return, server silent mid-body"
            log(case)
            steps = "\n".join(["stall-body 1000 60000"] * CANCEL_TRIES).encode()
            server.control("POST", "sessions/stall/script", steps)
            out_text = subprocess.run([str(work / "bb_cancel"), "stall", str(CANCEL_TRIES)], env=env,
                                      check=True, capture_output=True, text=True, timeout=300).stdout
            ms = [float(x) for x in out_text.split()]
            raw["cancel"] = {"libbrowserbase": ms}
            table.row(case, f"libbrowserbase (`bb_client_download_to_callback_opts`; {len(ms)} tries, ms)",
                      f"{med(ms):.2f} ms", f"{min(ms):.2f} – {max(ms):.2f} ms", "", "< 100 ms",
                      verdict(med(ms) < 100))

        # ---- a big archive cut once at 90 %: resume on against off ---------
        if "resume" in CASES:
            resume_size = (sessions / "resume.zip").stat().st_size
            cut = int(resume_size * RESUME_CUT)
            case = (f"one {human_size(RESUME_SIZE)} archive cut once at {RESUME_CUT:.0%} "
                    f"(byte {cut:,}), to a file, 2 retries allowed")
            log(case)
            target = out / "resume.zip"
            sent = {"resume on": [], "resume off": []}
            slept = {"resume on": [], "resume off": []}

            def prep_resume(name, extra):
                run_env = dict(env, BROWSERBASE_LOG="warn", BROWSERBASE_MAX_RETRIES="2", **extra)

                def prepare():
                    if target.exists():
                        target.unlink()
                    prepare.before = len(server.control("GET", "requests/bytes").split())
                    server.control("POST", "sessions/resume/script", f"cut {cut}".encode())
                    return [bb, "file", "resume", str(target)], run_env

                def check(run):
                    expect_file(target, resume_size)(run)
                    counts = [int(x) for x in server.control("GET", "requests/bytes").split()]
                    sent[name].append(sum(counts[prepare.before:]))
                    # The retry's backoff sleep, from its log line ("retrying in N ms").
                    text = (scratch / "stderr.txt").read_text(errors="replace")
                    ms = [int(w) for line in text.splitlines() if "retrying in " in line
                          for w in [line.split("retrying in ", 1)[1].split()[0]]]
                    slept[name].append(sum(ms) / 1000)
                return (name, prepare, check)

            contenders = [prep_resume("resume on", {}), prep_resume("resume off", {"BROWSERBASE_RESUME": "0"})]
            interleaved(contenders, 1, scratch)
            for v in (*sent.values(), *slept.values()):
                v.clear()
            res = interleaved(contenders, RUNS, scratch)
            raw["resume"] = {k: [dict(r.to_json(), body_bytes_sent=b, backoff_s=z)
                                 for r, b, z in zip(v, sent[k], slept[k])] for k, v in res.items()}
            on = [r.wall for r in res["resume on"]]
            off = [r.wall for r in res["resume off"]]
            r_off = paired_ratio(on, off)
            b_on = [b / resume_size for b in sent["resume on"]]
            b_off = [b / resume_size for b in sent["resume off"]]
            table.row(case, "libbrowserbase, resume on (`Range`/`If-Range`): body bytes sent by the server in all",
                      f"{med(b_on):.3f}× the archive", fmt_range(b_on, lambda x: f"{x:.3f}×"), "",
                      "≤ 1.15× the archive", verdict(max(b_on) <= 1.15))
            table.row(case, "″ time", fmt_s(med(on)), fmt_range(on), ratio_text(r_off, "resume off"),
                      "≤ 0.50× resume off", verdict(r_off[0] <= 0.5))
            # Both wait out the same backoff before their retry (0.375-0.5 s,
            # the retry policy's first delay): on loopback it is most of the time.
            on_x = [w - z for w, z in zip(on, slept["resume on"])]
            off_x = [w - z for w, z in zip(off, slept["resume off"])]
            table.row(case, "″ time less the backoff sleep (from the log's `retrying in N ms`)", fmt_s(med(on_x)),
                      fmt_range(on_x), ratio_text(paired_ratio(on_x, off_x), "resume off"), "", "")
            table.row(case, "libbrowserbase, resume off (`BROWSERBASE_RESUME=0`: starts over, reference)",
                      fmt_s(med(off)), fmt_range(off), f"bytes sent: {med(b_off):.3f}× the archive", "", "")
            table.row(case, "″ time less the backoff sleep", fmt_s(med(off_x)), fmt_range(off_x), "1", "", "")
            # Time in proportion to the bytes moved puts the floor of the
            # ratio at 1 / (1 + cut): 0.53x for a cut at 90 %, above the 0.5x target.
            table.row(case, "note: the ratio's floor when time follows the bytes moved",
                      f"{1 / (1 + RESUME_CUT):.2f}×", "", "(the archive once, against 1.9 archives)", "", "")
            (sessions / "resume.zip").unlink()

        info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        info["official Python SDK"] = sdk_version
        info["duration"] = f"{(time.time() - started) / 60:.1f} min"
        write_results(info, table, raw, big_size, small_size)
    finally:
        if server:
            server.stop()
        if not base_tmp and os.environ.get("BENCH_KEEP", "") in ("", "0"):
            shutil.rmtree(work, ignore_errors=True)


BEGIN = "<!-- bench:begin: written by benches/bench.py (`make bench`); edit outside these markers -->"
END = "<!-- bench:end -->"

TEMPLATE = f"""# Benchmarks

`make bench` (not part of `make test`) measures libbrowserbase on one machine, over
loopback, against the stand-in server, side by side with curl, dd and the official Python
SDK (see `benches/bench.py`). The section between the markers is rewritten by each run.

{BEGIN}
{END}

## Findings

(none yet)
"""


def write_results(info, table, raw, big_size, small_size):
    lines = ["## Last run", ""]
    lines.append("| machine | |")
    lines.append("| --- | --- |")
    for k, v in info.items():
        lines.append(f"| {k} | {v} |")
    lines += [
        "",
        f"Served by `bb-stand-in-server` (release build, this tree) with `--sessions DIR`: each archive is a "
        f"`DIR/<id>.zip` file sent with `sendfile(2)` from the page cache after a separate head write, "
        f"with Content-Length, over keep-alive HTTP/1.1 on 127.0.0.1 (plain http: loopback only). Archives: "
        f"{human_size(BIG_SIZE)} of random bytes stored (not compressed) in one entry ({big_size:,} bytes in all); "
        f"a {human_size(small_size)} archive (whole file). Every contender writes real files on the same file system "
        f"(the big file is removed after each run, outside the timing; the small-file cases write each run "
        f"into a new directory, all removed at the end), and the contenders of a case take turns run by run "
        f"after one untimed warm-up round. Times are whole processes (start to exit) unless the case says "
        f"*in-call* (time around the download calls inside the process, after start-up: used against the "
        f"Python SDK, whose interpreter start would otherwise dominate). Ratios are the median of the per-run "
        f"ratios (run *i* of one contender against run *i* of the reference); below 1 is faster.",
        "",
        *([f"The sessions case's {max(SESSIONS_COUNTS):,} sessions come from the server's `/_control/copies` call: "
           f"all answer one {human_size(small_size)} archive held in memory (sent with its head in one write), "
           f"ids `{SESSIONS_PREFIX}0` … Each contender writes `<id>.zip` for every id into a new directory; "
           f"each run is checked for exactly those files, each the archive byte for byte.", ""]
          if "sessions" in CASES else []),
        f"{RUNS} runs per case{' (quick mode)' if QUICK else ''}.",
        "",
        table.markdown(),
    ]
    body = "\n".join(lines)
    bench_dir = ROOT / "target" / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    (bench_dir / "last-run.json").write_text(json.dumps({"machine": info, "runs": raw}, indent=1))
    if QUICK:
        dest = bench_dir / "BENCHMARKS.quick.md"
    elif set(CASES) != set(ALL_CASES):
        dest = bench_dir / "BENCHMARKS.partial.md"  # BENCHMARKS.md keeps a whole run
    else:
        dest = ROOT / "BENCHMARKS.md"
    text = dest.read_text() if dest.exists() else TEMPLATE
    if BEGIN not in text or END not in text:
        text = TEMPLATE
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    dest.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")
    print(body)
    log(f"wrote {dest.relative_to(ROOT)} and target/bench/last-run.json")


if __name__ == "__main__":
    main()
