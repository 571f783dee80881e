"""The official Browserbase Python SDK's side of the benchmarks (benches/bench.py
runs it with the interpreter of a venv where `pip install browserbase` worked).

    python sdk_bench.py file SESSION OUT        one download to a file (streamed)
    python sdk_bench.py seq  SESSION N OUTDIR   N downloads one after another, one client
    python sdk_bench.py many PREFIX N OUTDIR THREADS
                                                the N sessions PREFIX0 .. PREFIX<N-1>, each to
                                                OUTDIR/<id>.zip, by a ThreadPoolExecutor(THREADS)
                                                sharing one client

Settings come from BROWSERBASE_BASE_URL and BROWSERBASE_API_KEY, as the SDK reads
them. Prints "ok seconds=S maxrss_kib=K bytes=0": S is measured around the
downloads only, after the import and the client's construction.
"""

import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from browserbase import Browserbase


def main() -> int:
    mode, session = sys.argv[1], sys.argv[2]
    bb = Browserbase(
        api_key=os.environ["BROWSERBASE_API_KEY"],
        base_url=os.environ["BROWSERBASE_BASE_URL"],
    )
    if mode == "file":
        out = sys.argv[3]
        t0 = time.perf_counter()
        # The SDK's streaming form: the plain `.list(id)` reads the whole
        # archive into memory before `.write_to_file` writes it.
        with bb.sessions.downloads.with_streaming_response.list(session) as response:
            response.stream_to_file(out)
        seconds = time.perf_counter() - t0
    elif mode == "seq":
        n, outdir = int(sys.argv[3]), sys.argv[4]
        t0 = time.perf_counter()
        for i in range(n):
            bb.sessions.downloads.list(session).write_to_file(os.path.join(outdir, f"s-{i}.zip"))
        seconds = time.perf_counter() - t0
    elif mode == "many":
        prefix, n, outdir, threads = session, int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
        ids = [f"{prefix}{i}" for i in range(n)]

        def one(sid):
            bb.sessions.downloads.list(sid).write_to_file(os.path.join(outdir, f"{sid}.zip"))

        t0 = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            # list() re-raises the first failure, if any.
            list(pool.map(one, ids))
        seconds = time.perf_counter() - t0
    else:
        print(f"sdk_bench: unknown mode {mode!r}", file=sys.stderr)
        return 2
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"ok seconds={seconds:.6f} maxrss_kib={rss} bytes=0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
