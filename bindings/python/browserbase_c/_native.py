"""Finding, loading and declaring libbrowserbase (internal).

The shared library is loaded on first use, not at import, so that importing
the package (for its exception classes, say) never fails. Places tried, in
order:

1. the path in the environment variable ``BROWSERBASE_C_LIBRARY`` (when it is
   set, it is the only place tried: a mistyped override must not silently
   load some other copy);
2. ``libbrowserbase.so*`` in this package's directory (a wheel may bundle it);
3. the system's search path: ``libbrowserbase.so.0`` (the soname, which
   honours ``LD_LIBRARY_PATH``, rpaths and the ld.so cache), then
   ``ctypes.util.find_library("browserbase")``, then ``libbrowserbase.so``.

When nothing loads, :class:`LibraryNotFoundError` lists every place tried and
why each failed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, List, Optional, Tuple

from ._errors import LibraryNotFoundError

ENV_LIBRARY = "BROWSERBASE_C_LIBRARY"
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------
# The C types
# ---------------------------------------------------------------------------


class _Opaque(Structure):
    """Base of the opaque handle types."""


class BbError(_Opaque):
    """``bb_error``."""


class BbClient(_Opaque):
    """``bb_client``."""


class BbClientBuilder(_Opaque):
    """``bb_client_builder``."""


class BbArchive(_Opaque):
    """``bb_archive``."""


class BbArchiveEntry(Structure):
    """``bb_archive_entry``; its strings belong to the archive. An extensible
    struct: ``struct_size`` says how much of it this package knows, and the
    library writes nothing past that (see the header's preamble)."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("name", c_char_p),
        ("original_name", c_char_p),
        ("size", c_uint64),
        ("mtime_unix", c_int64),
        ("download_time_ms", c_int64),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.struct_size = ctypes.sizeof(BbArchiveEntry)  # BB_ARCHIVE_ENTRY_INIT


class BbCancel(_Opaque):
    """``bb_cancel``."""


class BbCallOptions(Structure):
    """``bb_call_options``, an extensible struct like ``bb_archive_entry``
    (``struct_size`` first; BB_CALL_OPTIONS_INIT is every option off)."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("cancel", c_void_p),
        ("progress", c_void_p),
        ("progress_user_data", c_void_p),
        # Added in 0.3 (an older library reads only the fields above).
        ("batch_progress", c_void_p),
        ("batch_progress_user_data", c_void_p),
    ]

    def __init__(self, cancel: Any = None) -> None:
        super().__init__()
        self.struct_size = ctypes.sizeof(BbCallOptions)
        self.cancel = ctypes.cast(cancel, c_void_p) if cancel else None


class BbBatchProgress(Structure):
    """``bb_batch_progress``: what the batch progress callback is given."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("index", c_size_t),
        ("session_id", c_void_p),
        ("received", c_uint64),
        ("total", c_int64),
        ("finished", c_int),
        ("code", c_int),
        ("message", c_void_p),
        ("succeeded", c_size_t),
        ("failed", c_size_t),
        ("count", c_size_t),
        ("batch_received", c_uint64),
    ]


ErrorP = POINTER(BbError)
ErrorPP = POINTER(ErrorP)
ClientP = POINTER(BbClient)
BuilderP = POINTER(BbClientBuilder)
ArchiveP = POINTER(BbArchive)
CancelP = POINTER(BbCancel)
OptionsP = POINTER(BbCallOptions)
BufferP = POINTER(c_uint8)
WRITE_CALLBACK = CFUNCTYPE(c_int, c_void_p, POINTER(c_uint8), c_size_t)
#: ``bb_progress_callback``: (user_data, received, total or -1) -> 0 to go on.
PROGRESS_CALLBACK = CFUNCTYPE(c_int, c_void_p, c_uint64, c_int64)
#: ``bb_batch_progress_callback``: (user_data, const bb_batch_progress *) -> 0 to go on.
BATCH_PROGRESS_CALLBACK = CFUNCTYPE(c_int, c_void_p, POINTER(BbBatchProgress))
#: ``bb_log_callback``: (user_data, bb_log_level, message). The message is
#: taken as a raw pointer (c_void_p), not c_char_p, so that converting it can
#: never fail before the Python function runs.
LOG_CALLBACK = CFUNCTYPE(None, c_void_p, c_int, c_void_p)
# void (*)(void *user_data): releases a replaced log callback's user data.
DESTROY_CALLBACK = CFUNCTYPE(None, c_void_p)
bb_code_t = c_int  # a C enum: int-sized
UINT32_MAX = 0xFFFFFFFF
#: The oldest library this package works with, as ``BB_VERSION_NUMBER``:
#: ``(major << 16) | (minor << 8) | patch``. Checked when the library is
#: loaded, with ``bb_version_number()``.
MIN_LIBRARY_VERSION = 0x000100
UINT64_MAX = 0xFFFFFFFFFFFFFFFF

_BUFFER_OUT = [POINTER(BufferP), POINTER(c_size_t)]

PROTOTYPES = {
    # name: (restype, argtypes)
    "bb_version": (c_char_p, []),
    "bb_version_number": (c_uint32, []),
    "bb_code_name": (c_char_p, [bb_code_t]),
    "bb_error_code": (bb_code_t, [ErrorP]),
    "bb_error_http_status": (c_int, [ErrorP]),
    "bb_error_message": (c_char_p, [ErrorP]),
    "bb_error_free": (None, [ErrorP]),
    "bb_buffer_free": (None, [BufferP, c_size_t]),
    # The process-wide log (bb_log_level is a C enum: int-sized).
    "bb_set_log_callback": (bb_code_t, [LOG_CALLBACK, c_void_p, c_int, ErrorPP]),
    # The setter that never waits; destroy (here always NULL) as a raw pointer.
    "bb_set_log_callback_v2": (bb_code_t, [LOG_CALLBACK, c_void_p, DESTROY_CALLBACK, c_int, ErrorPP]),
    # The process-wide default client.
    "bb_download_session": (bb_code_t, [c_char_p, c_char_p, c_char_p, ErrorPP]),
    "bb_download_session_to_buffer": (
        bb_code_t,
        [c_char_p, c_char_p, *_BUFFER_OUT, ErrorPP],
    ),
    "bb_download_session_to_callback": (
        bb_code_t,
        [c_char_p, c_char_p, WRITE_CALLBACK, c_void_p, ErrorPP],
    ),
    "bb_wait_for_downloads": (
        bb_code_t,
        [c_char_p, c_char_p, c_uint32, c_char_p, ErrorPP],
    ),
    "bb_wait_for_downloads_to_buffer": (
        bb_code_t,
        [c_char_p, c_char_p, c_uint32, *_BUFFER_OUT, ErrorPP],
    ),
    "bb_extract_downloads": (
        bb_code_t,
        [c_char_p, c_char_p, c_uint32, c_char_p, ErrorPP],
    ),
    # Cancel handles and the calls with per-call options (client NULL: the
    # process-wide default client).
    "bb_cancel_new": (bb_code_t, [POINTER(CancelP), ErrorPP]),
    "bb_cancel_trigger": (None, [CancelP]),
    "bb_cancel_is_triggered": (c_int, [CancelP]),
    "bb_cancel_free": (None, [CancelP]),
    "bb_client_download_opts": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, c_char_p, OptionsP, ErrorPP],
    ),
    "bb_client_download_to_buffer_opts": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, *_BUFFER_OUT, OptionsP, ErrorPP],
    ),
    "bb_client_download_to_callback_opts": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, WRITE_CALLBACK, c_void_p, OptionsP, ErrorPP],
    ),
    "bb_client_wait_for_downloads_opts": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, c_uint32, c_uint32, c_char_p, OptionsP, ErrorPP],
    ),
    "bb_client_wait_for_downloads_to_buffer_opts": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, c_uint32, c_uint32, *_BUFFER_OUT, OptionsP, ErrorPP],
    ),
    "bb_client_extract_downloads_opts": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, c_uint32, c_uint32, c_char_p, OptionsP, ErrorPP],
    ),
    "bb_archive_extract_to_opts": (bb_code_t, [ArchiveP, c_char_p, OptionsP, ErrorPP]),
    # Many sessions in one call (0.3).
    "bb_download_sessions": (
        bb_code_t,
        [c_char_p, POINTER(c_char_p), c_size_t, c_char_p, c_uint, POINTER(bb_code_t), ErrorPP],
    ),
    "bb_client_download_sessions": (
        bb_code_t,
        [ClientP, c_char_p, POINTER(c_char_p), c_size_t, c_char_p, c_uint, POINTER(bb_code_t),
         ErrorPP],
    ),
    "bb_client_download_sessions_opts": (
        bb_code_t,
        [ClientP, c_char_p, POINTER(c_char_p), c_size_t, c_char_p, c_uint, OptionsP,
         POINTER(bb_code_t), ErrorPP],
    ),
    # Builders and clients.
    "bb_client_builder_new": (BuilderP, []),
    "bb_client_builder_free": (None, [BuilderP]),
    "bb_client_builder_load_env": (bb_code_t, [BuilderP, ErrorPP]),
    "bb_client_builder_set_base_url": (bb_code_t, [BuilderP, c_char_p, ErrorPP]),
    "bb_client_builder_set_api_key": (bb_code_t, [BuilderP, c_char_p, ErrorPP]),
    "bb_client_builder_set_connect_timeout_ms": (
        bb_code_t,
        [BuilderP, c_uint32, ErrorPP],
    ),
    "bb_client_builder_set_timeout_ms": (bb_code_t, [BuilderP, c_uint32, ErrorPP]),
    "bb_client_builder_set_deadline_ms": (bb_code_t, [BuilderP, c_uint32, ErrorPP]),
    "bb_client_builder_set_max_retries": (bb_code_t, [BuilderP, c_uint32, ErrorPP]),
    "bb_client_builder_set_user_agent_suffix": (
        bb_code_t,
        [BuilderP, c_char_p, ErrorPP],
    ),
    "bb_client_builder_add_ca_file": (bb_code_t, [BuilderP, c_char_p, ErrorPP]),
    "bb_client_builder_set_proxy": (bb_code_t, [BuilderP, c_char_p, ErrorPP]),
    "bb_client_builder_set_fsync": (bb_code_t, [BuilderP, c_int, ErrorPP]),
    "bb_client_builder_set_max_archive_bytes": (bb_code_t, [BuilderP, c_uint64, ErrorPP]),
    "bb_client_builder_set_progress": (
        bb_code_t,
        [BuilderP, PROGRESS_CALLBACK, c_void_p, ErrorPP],
    ),
    "bb_client_new": (bb_code_t, [BuilderP, POINTER(ClientP), ErrorPP]),
    "bb_client_free": (None, [ClientP]),
    "bb_client_download": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, c_char_p, ErrorPP],
    ),
    "bb_client_download_to_buffer": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, *_BUFFER_OUT, ErrorPP],
    ),
    "bb_client_download_to_callback": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, WRITE_CALLBACK, c_void_p, ErrorPP],
    ),
    "bb_client_wait_for_downloads": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, c_uint32, c_uint32, c_char_p, ErrorPP],
    ),
    "bb_client_wait_for_downloads_to_buffer": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, c_uint32, c_uint32, *_BUFFER_OUT, ErrorPP],
    ),
    "bb_client_extract_downloads": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, c_uint32, c_uint32, c_char_p, ErrorPP],
    ),
    # Archives.
    "bb_archive_open_file": (bb_code_t, [c_char_p, POINTER(ArchiveP), ErrorPP]),
    "bb_archive_open_buffer": (
        bb_code_t,
        [c_void_p, c_size_t, POINTER(ArchiveP), ErrorPP],
    ),
    "bb_archive_entry_count": (c_size_t, [ArchiveP]),
    "bb_archive_entry_at": (
        bb_code_t,
        [ArchiveP, c_size_t, POINTER(BbArchiveEntry), ErrorPP],
    ),
    "bb_archive_set_limits": (bb_code_t, [ArchiveP, c_uint64, c_uint32, ErrorPP]),
    "bb_archive_extract_to": (bb_code_t, [ArchiveP, c_char_p, ErrorPP]),
    "bb_archive_free": (None, [ArchiveP]),
    "bb_archive_extract": (bb_code_t, [c_char_p, c_char_p, ErrorPP]),
}

# ---------------------------------------------------------------------------
# Finding and loading
# ---------------------------------------------------------------------------


def _system_names() -> List[str]:
    if sys.platform == "darwin":
        return ["libbrowserbase.0.dylib", "libbrowserbase.dylib"]
    return ["libbrowserbase.so.0", "libbrowserbase.so"]


def candidates() -> List[Tuple[str, Optional[str]]]:
    """The places to try, in order: ``(description, path or name)``; a None
    path means the place yielded nothing to try (the description says why)."""
    override = os.environ.get(ENV_LIBRARY)
    if override:
        return [(f"${ENV_LIBRARY}={override}", override)]
    places: List[Tuple[str, Optional[str]]] = []
    bundled = sorted(
        glob.glob(os.path.join(glob.escape(PACKAGE_DIR), "libbrowserbase.so*"))
        + glob.glob(os.path.join(glob.escape(PACKAGE_DIR), "libbrowserbase*.dylib"))
    )
    if bundled:
        places.extend((f"next to the package: {p}", p) for p in bundled)
    else:
        places.append(
            (f"next to the package: no libbrowserbase.so* in {PACKAGE_DIR}", None)
        )
    first, *rest = _system_names()
    places.append((f"the system search path: {first}", first))
    try:
        found = ctypes.util.find_library("browserbase")
    except Exception as e:  # noqa: BLE001 - find_library runs tools; any failure
        found = None
        places.append((f"ctypes.util.find_library('browserbase'): {e}", None))
    else:
        if found:
            places.append((f"ctypes.util.find_library('browserbase'): {found}", found))
        else:
            places.append(("ctypes.util.find_library('browserbase'): not found", None))
    places.extend((f"the system search path: {name}", name) for name in rest)
    return places


class Library:
    """The loaded library with its prototypes declared."""

    def __init__(self, cdll: ctypes.CDLL, path: str) -> None:
        self.cdll = cdll
        self.path = path

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cdll, name)


def _declare(cdll: ctypes.CDLL) -> None:
    missing = []
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise OSError(
            f"not a usable libbrowserbase (too old?): lacks {', '.join(missing)}"
        )
    found = cdll.bb_version_number()
    if found < MIN_LIBRARY_VERSION:
        raise OSError(
            f"libbrowserbase {cdll.bb_version().decode('ascii', 'replace')} is older than "
            f"the {_version_text(MIN_LIBRARY_VERSION)} this package needs"
        )


def _version_text(number: int) -> str:
    return f"{number >> 16}.{(number >> 8) & 0xFF}.{number & 0xFF}"


_lock = threading.Lock()
_library: Optional[Library] = None


def load() -> Library:
    """The library, loaded and declared on the first call."""
    global _library
    lib = _library
    if lib is not None:
        return lib
    with _lock:
        if _library is not None:
            return _library
        failures = []
        for description, target in candidates():
            if target is None:
                failures.append(description)
                continue
            try:
                cdll = ctypes.CDLL(target)
                _declare(cdll)
            except OSError as e:
                failures.append(f"{description}: {e}")
                continue
            _library = Library(cdll, _resolved_path(cdll, target))
            return _library
        raise LibraryNotFoundError(
            "cannot load libbrowserbase; tried:\n"
            + "\n".join(f"  - {f}" for f in failures)
            + f"\nBuild it (make build) and set {ENV_LIBRARY} to the .so's path, "
            "or install it where the dynamic loader finds it."
        )


def _resolved_path(cdll: ctypes.CDLL, fallback: str) -> str:
    """The file the loader actually opened (dladdr), else what was asked for."""
    if sys.platform.startswith("linux"):
        try:

            class DlInfo(Structure):
                _fields_ = [
                    ("dli_fname", c_char_p),
                    ("dli_fbase", c_void_p),
                    ("dli_sname", c_char_p),
                    ("dli_saddr", c_void_p),
                ]

            libdl = ctypes.CDLL(None)
            dladdr = libdl.dladdr
            dladdr.argtypes = [c_void_p, POINTER(DlInfo)]
            dladdr.restype = c_int
            info = DlInfo()
            address = ctypes.cast(cdll.bb_version, c_void_p)
            if dladdr(address, ctypes.byref(info)) and info.dli_fname:
                return os.fsdecode(info.dli_fname)
        except (OSError, AttributeError):
            pass
    return fallback
