"""browserbase_c: download the files a Browserbase session downloaded,
through libbrowserbase (a C library) loaded with ctypes.

::

    import browserbase_c as bb

    bb.download(session_id, "downloads.zip")          # BROWSERBASE_API_KEY
    data = bb.download_bytes(session_id, api_key="bb_live_...")
    bb.wait_for_downloads(session_id, "downloads.zip", timeout=60)
    bb.extract_downloads(session_id, "out/", timeout=60)

    failed = {i: e for i, e in bb.download_sessions(ids, "out/").items() if e}

    with bb.Archive.open("downloads.zip") as archive:
        for entry in archive:
            print(entry.original_name, entry.size, entry.download_time)

    with bb.Client(api_key="bb_live_...", timeout=30, max_retries=5) as client:
        client.download(session_id, "downloads.zip")

    def show(received, total):              # returning False cancels
        print(f"{received} of {total or '?'} bytes")

    with bb.Client(progress=show) as client:
        client.download(session_id, "downloads.zip")

    bb.enable_logging(logging.INFO)         # lines to logging.getLogger("browserbase_c")

Errors are exceptions named as in the official ``browserbase`` SDK
(``NotFoundError``, ``AuthenticationError``, ``RateLimitError``,
``APIConnectionError``...), see :mod:`browserbase_c._errors`.

The library is found through ``BROWSERBASE_C_LIBRARY``, then next to this
package, then the system's search path; it is loaded on first use.
"""

from ._api import (
    Archive,
    Cancel,
    Client,
    Entry,
    Progress,
    download,
    download_bytes,
    download_sessions,
    download_to,
    extract,
    extract_downloads,
    library_path,
    version,
    wait_for_downloads,
)
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BrowserbaseError,
    CancelledError,
    Code,
    ConflictError,
    InternalError,
    InternalServerError,
    InvalidArchiveError,
    InvalidArgumentError,
    LibraryNotFoundError,
    LocalIOError,
    NotFoundError,
    NotReadyError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from ._log import LOGGER_NAME, disable_logging, enable_logging

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "Archive",
    "AuthenticationError",
    "BadRequestError",
    "BrowserbaseError",
    "Cancel",
    "CancelledError",
    "Client",
    "Code",
    "ConflictError",
    "Entry",
    "InternalError",
    "InternalServerError",
    "InvalidArchiveError",
    "InvalidArgumentError",
    "LOGGER_NAME",
    "LibraryNotFoundError",
    "LocalIOError",
    "NotFoundError",
    "NotReadyError",
    "PermissionDeniedError",
    "Progress",
    "RateLimitError",
    "UnprocessableEntityError",
    "disable_logging",
    "download",
    "download_bytes",
    "download_sessions",
    "download_to",
    "enable_logging",
    "extract",
    "extract_downloads",
    "library_path",
    "version",
    "wait_for_downloads",
]
