"""Routing libbrowserbase's log lines into Python's :mod:`logging` (internal
module; import from ``browserbase_c``).

::

    import logging
    import browserbase_c as bb

    logging.basicConfig(level=logging.INFO)
    bb.enable_logging(logging.INFO)    # lines go to the "browserbase_c" logger
    ...
    bb.disable_logging()               # back to the library's default

The library logs one line per request at INFO (``GET /v1/sessions/<id>/downloads
-> 200, 1234 bytes in 56 ms (attempt 1/3)``), retries at WARNING, redirects at
DEBUG. A line never contains the API key.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import threading
from typing import Any, Union

from . import _native
from ._api import _call

#: The logger the library's lines go to.
LOGGER_NAME = "browserbase_c"
logger = logging.getLogger(LOGGER_NAME)

# bb_log_level, and the logging level each maps to.
BB_LOG_OFF = 0
BB_LOG_ERROR = 1
BB_LOG_WARN = 2
BB_LOG_INFO = 3
BB_LOG_DEBUG = 4
_TO_PYTHON = {
    BB_LOG_ERROR: logging.ERROR,
    BB_LOG_WARN: logging.WARNING,
    BB_LOG_INFO: logging.INFO,
    BB_LOG_DEBUG: logging.DEBUG,
}


def _deliver(_user: Any, level: int, message: Any) -> None:
    """The C callback. It runs on whichever thread is downloading (ctypes
    takes the GIL) and must never raise into C: ctypes would print the
    exception and carry on, in the middle of the library's call."""
    try:
        text = ctypes.string_at(message).decode("utf-8", "replace") if message else ""
        logger.log(_TO_PYTHON.get(level, logging.WARNING), text)
    except BaseException:  # noqa: BLE001 - nothing may reach C; logging reports its own
        pass


# One C function pointer for the life of the process, never freed: a freed
# ctypes thunk would crash any thread still calling it. It reads the logger
# at each line, so it needs no user_data (and no destroy). The setter used
# is bb_set_log_callback_v2, which never waits for lines still being
# delivered on other threads: a logging handler may take locks (its own, the
# application's) that the thread changing the setting holds, and it may call
# enable_logging or disable_logging itself.
_CALLBACK = _native.LOG_CALLBACK(_deliver)
_NO_CALLBACK = _native.LOG_CALLBACK()  # NULL
# No destroy callback: the package's user data is NULL and its callback
# lives as long as the module.
_NO_DESTROY = _native.DESTROY_CALLBACK()  # NULL
_lock = threading.Lock()
_enabled = False
_exit_hook_registered = False


def _max_level(level: Union[int, str]) -> int:
    """The most detailed bb_log_level whose lines ``level`` lets through."""
    if isinstance(level, str):
        value = logging.getLevelName(level.upper())
        if not isinstance(value, int):
            raise ValueError(f"unknown logging level {level!r}")
        level = value
    elif isinstance(level, bool) or not isinstance(level, int):
        raise TypeError(f"level must be an int or a level name, not {type(level).__name__}")
    most = BB_LOG_OFF
    for bb_level, python_level in sorted(_TO_PYTHON.items()):
        if python_level >= level:
            most = bb_level
    return most


def enable_logging(level: Union[int, str] = logging.INFO) -> None:
    """Sends the library's log lines at ``level`` and above to the
    ``browserbase_c`` logger (``logging.getLogger("browserbase_c")``), for
    the whole process, instead of stderr. ``level`` is a :mod:`logging`
    level (``logging.DEBUG``, ``"INFO"``...); the library does not even
    format the lines below it. ERROR, WARNING, INFO and DEBUG map to the
    library's levels; above ERROR the library is silent.

    What happens to a line then is :mod:`logging`'s business: give the
    logger (or the root logger) a handler and a level, e.g. with
    ``logging.basicConfig(level=logging.INFO)``. Calling this again changes
    the level."""
    most = _max_level(level)
    global _enabled, _exit_hook_registered
    with _lock:
        _call("bb_set_log_callback_v2", _CALLBACK, None, _NO_DESTROY, most)
        _enabled = True
        if not _exit_hook_registered:
            atexit.register(_at_exit)
            _exit_hook_registered = True


def disable_logging() -> None:
    """Stops sending the library's lines to :mod:`logging` and restores the
    library's default: stderr, at the level the ``BROWSERBASE_LOG``
    environment variable asks for (unset: nothing)."""
    global _enabled
    with _lock:
        # NULL with any level but BB_LOG_OFF restores the default (NULL with
        # BB_LOG_OFF would silence the library instead).
        _call("bb_set_log_callback_v2", _NO_CALLBACK, None, _NO_DESTROY, BB_LOG_ERROR)
        _enabled = False


def _at_exit() -> None:
    # A thread still downloading while the interpreter shuts down must not
    # call into it.
    try:
        if _enabled:
            disable_logging()
    except BaseException:  # noqa: BLE001 - at exit
        pass


__all__ = ["LOGGER_NAME", "disable_logging", "enable_logging", "logger"]
