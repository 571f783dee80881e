"""The exceptions, named as in the official Browserbase Python SDK.

Hierarchy::

    BrowserbaseError
    ├── APIError
    │   ├── APIStatusError            .status_code (the HTTP status)
    │   │   ├── BadRequestError            400
    │   │   ├── AuthenticationError        401
    │   │   ├── PermissionDeniedError      403
    │   │   ├── NotFoundError              404
    │   │   ├── ConflictError              409
    │   │   ├── UnprocessableEntityError   422
    │   │   ├── RateLimitError             429
    │   │   └── InternalServerError        >= 500
    │   └── APIConnectionError
    │       └── APITimeoutError
    ├── InvalidArgumentError  (also a ValueError)
    ├── LocalIOError          (also an OSError)
    ├── InvalidArchiveError
    ├── CancelledError
    ├── NotReadyError         (also a TimeoutError, hence an OSError)
    ├── InternalError
    └── LibraryNotFoundError  (also an OSError; the library could not be loaded)

Every exception carries ``message``, ``code`` (the ``bb_code`` name, such as
``"BB_ERR_NOT_FOUND"``), ``code_value`` (its number) and ``http_status`` (0
when no HTTP response came). ``str(e)`` is the library's message.
"""

from __future__ import annotations

import enum
from typing import Any, Dict, Optional, Tuple, Type


class Code(enum.IntEnum):
    """The library's ``bb_code`` values (part of its ABI: they never change)."""

    BB_OK = 0
    BB_ERR_INVALID_ARGUMENT = 1
    BB_ERR_AUTHENTICATION = 2
    BB_ERR_PERMISSION_DENIED = 3
    BB_ERR_NOT_FOUND = 4
    BB_ERR_RATE_LIMITED = 5
    BB_ERR_SERVER = 6
    BB_ERR_HTTP = 7
    BB_ERR_CONNECTION = 8
    BB_ERR_TIMEOUT = 9
    BB_ERR_IO = 10
    BB_ERR_INVALID_ARCHIVE = 11
    BB_ERR_CANCELLED = 12
    BB_ERR_NOT_READY = 13
    BB_ERR_INTERNAL = 14


def _rebuild(cls: type, message: str, code_value: int, http_status: int) -> Any:
    return cls(message, code=code_value, http_status=http_status)


class BrowserbaseError(Exception):
    """Base class of every error this package raises."""

    #: The code this class stands for when the library gave none.
    default_code: Code = Code.BB_ERR_INTERNAL

    message: str
    code: str
    code_value: int
    http_status: int

    def __init__(
        self, message: str, *, code: Optional[int] = None, http_status: int = 0
    ) -> None:
        # Positional only: OSError's __init__ takes no keyword arguments.
        super().__init__(message)
        value = self.default_code if code is None else code
        self.message = message
        self.code_value = int(value)
        try:
            self.code = Code(value).name
        except ValueError:
            self.code = "BB_UNKNOWN_CODE"
        self.http_status = int(http_status)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        status = f", http_status={self.http_status}" if self.http_status else ""
        return f"{type(self).__name__}({self.message!r}, code={self.code}{status})"

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.code_value, self.http_status))


class APIError(BrowserbaseError):
    """A failure talking to the service (as in the official SDK)."""

    #: The response body, as in the official SDK; this library does not keep it.
    body: Optional[object] = None


class APIStatusError(APIError):
    """The service answered a non-2xx HTTP status (``status_code``)."""

    default_code = Code.BB_ERR_HTTP

    @property
    def status_code(self) -> int:
        """The HTTP status of the response."""
        return self.http_status


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key was refused."""

    default_code = Code.BB_ERR_AUTHENTICATION


class PermissionDeniedError(APIStatusError):
    """HTTP 403."""

    default_code = Code.BB_ERR_PERMISSION_DENIED


class NotFoundError(APIStatusError):
    """HTTP 404: no such session."""

    default_code = Code.BB_ERR_NOT_FOUND


class ConflictError(APIStatusError):
    """HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422."""


class RateLimitError(APIStatusError):
    """HTTP 429 (after the client's retries)."""

    default_code = Code.BB_ERR_RATE_LIMITED


class InternalServerError(APIStatusError):
    """HTTP 5xx (after the client's retries)."""

    default_code = Code.BB_ERR_SERVER


class APIConnectionError(APIError):
    """No usable connection: refused, reset, DNS, TLS, or a body cut short."""

    default_code = Code.BB_ERR_CONNECTION


class APITimeoutError(APIConnectionError):
    """The server stayed silent too long, or the call's deadline passed."""

    default_code = Code.BB_ERR_TIMEOUT


class InvalidArgumentError(BrowserbaseError, ValueError):
    """An unusable argument or setting; nothing was sent, no file touched."""

    default_code = Code.BB_ERR_INVALID_ARGUMENT


class LocalIOError(BrowserbaseError, OSError):
    """The local file system: missing directory, permission, disk full...

    An :class:`OSError` too, but the library reports the OS reason only in
    its message: ``errno`` and ``filename`` are None.
    """

    default_code = Code.BB_ERR_IO


class InvalidArchiveError(BrowserbaseError):
    """Not a usable ZIP archive (e.g. a proxy's HTML page), or one that may
    not be extracted safely."""

    default_code = Code.BB_ERR_INVALID_ARCHIVE


class CancelledError(BrowserbaseError):
    """A download callback asked to stop."""

    default_code = Code.BB_ERR_CANCELLED


class NotReadyError(BrowserbaseError, TimeoutError):
    """Waiting for a session's files ran out of time."""

    default_code = Code.BB_ERR_NOT_READY


class InternalError(BrowserbaseError):
    """A bug in the library (a caught panic), or out of memory."""

    default_code = Code.BB_ERR_INTERNAL


class LibraryNotFoundError(BrowserbaseError, OSError):
    """libbrowserbase could not be loaded; the message lists every place tried."""

    default_code = Code.BB_ERR_INTERNAL


_BY_CODE: Dict[int, Type[BrowserbaseError]] = {
    Code.BB_ERR_INVALID_ARGUMENT: InvalidArgumentError,
    Code.BB_ERR_AUTHENTICATION: AuthenticationError,
    Code.BB_ERR_PERMISSION_DENIED: PermissionDeniedError,
    Code.BB_ERR_NOT_FOUND: NotFoundError,
    Code.BB_ERR_RATE_LIMITED: RateLimitError,
    Code.BB_ERR_SERVER: InternalServerError,
    Code.BB_ERR_CONNECTION: APIConnectionError,
    Code.BB_ERR_TIMEOUT: APITimeoutError,
    Code.BB_ERR_IO: LocalIOError,
    Code.BB_ERR_INVALID_ARCHIVE: InvalidArchiveError,
    Code.BB_ERR_CANCELLED: CancelledError,
    Code.BB_ERR_NOT_READY: NotReadyError,
    Code.BB_ERR_INTERNAL: InternalError,
}

_BY_STATUS: Dict[int, Type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def exception_class(code: int, http_status: int) -> Type[BrowserbaseError]:
    """The class for a ``bb_code`` and HTTP status, as the official SDK picks
    by status: ``BB_ERR_HTTP`` (any other status) is refined by its status."""
    if code == Code.BB_ERR_HTTP:
        if http_status >= 500:
            return InternalServerError
        return _BY_STATUS.get(http_status, APIStatusError)
    return _BY_CODE.get(code, InternalError)


def make_error(code: int, http_status: int, message: str) -> BrowserbaseError:
    """The exception for a failed call."""
    cls = exception_class(code, http_status)
    return cls(message, code=code, http_status=http_status)
