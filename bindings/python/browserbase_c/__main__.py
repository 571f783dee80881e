"""``python -m browserbase_c SESSION_ID OUT.zip``: download a session's files.

::

    python -m browserbase_c SESSION_ID OUT.zip               # download now
    python -m browserbase_c --wait 60 SESSION_ID OUT.zip     # wait for the files first
    python -m browserbase_c --extract --wait 60 SESSION_ID DIR

Installed, the same command is the console script ``browserbase-c-download``.
The key comes from ``BROWSERBASE_API_KEY``, the other settings from the
``BROWSERBASE_*`` variables. Exit status: 0 done, 1 failed, 2 bad usage.
When libbrowserbase cannot be loaded it says so (``LibraryNotFoundError``)
and lists the places it tried.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from . import (
    Archive,
    BrowserbaseError,
    LibraryNotFoundError,
    download,
    extract_downloads,
    wait_for_downloads,
)


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line; returns the exit status."""
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    parser = argparse.ArgumentParser(
        prog="python -m browserbase_c" if program in ("", "__main__.py", "-c") else program,
        description="Download the files a Browserbase session downloaded (a ZIP archive).",
        epilog="The API key comes from BROWSERBASE_API_KEY.",
    )
    parser.add_argument("session_id", help="the session's id")
    parser.add_argument("out", help="the archive to write (a directory with --extract)")
    parser.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="wait up to SECONDS for the session's files to be synced",
    )
    parser.add_argument(
        "--stable",
        action="store_true",
        help="with --wait: also wait until two polls in a row see the same files",
    )
    parser.add_argument(
        "--extract", action="store_true", help="extract the files into the directory OUT"
    )
    args = parser.parse_args(argv)
    if args.stable and args.wait is None:
        parser.error("--stable needs --wait")
    try:
        if args.extract:
            extract_downloads(
                args.session_id, args.out, timeout=args.wait or 0, stable=args.stable
            )
            print(f"extracted into {args.out}")
            return 0
        if args.wait is None:
            download(args.session_id, args.out)
        else:
            wait_for_downloads(args.session_id, args.out, timeout=args.wait, stable=args.stable)
        with Archive.open(args.out) as archive:
            size = sum(e.size for e in archive)
            print(f"saved {args.out}: {len(archive)} files, {size} bytes uncompressed")
            for entry in archive:
                print(f"  {entry.original_name}  {entry.size}")
        return 0
    except LibraryNotFoundError as e:
        # Not an error of the library (it could not even be loaded): say so,
        # with the places tried, rather than a BB_ERR_* code.
        print(f"error: LibraryNotFoundError: {e}", file=sys.stderr)
        return 1
    except BrowserbaseError as e:
        status = f" (HTTP {e.http_status})" if e.http_status else ""
        print(f"error: {e.code}{status}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
