"""The Pythonic API over libbrowserbase's C functions (internal module; import
from ``browserbase_c``)."""

from __future__ import annotations

import ctypes
import datetime as _dt
import math
import os
import contextlib
import threading
from contextlib import contextmanager
from ctypes import byref, c_size_t
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Iterator,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from . import _native
from ._errors import (
    BrowserbaseError,
    Code,
    InvalidArgumentError,
    make_error,
)

StrPath = Union[str, "os.PathLike[str]", bytes, "os.PathLike[bytes]"]
Seconds = Union[int, float, _dt.timedelta]
#: Receives each chunk of a streamed download: a callable taking ``bytes``
#: (returning ``False`` cancels), or an object with a ``write(bytes)`` method.
Sink = Union[Callable[[bytes], Any], Any]
#: Receives a download's progress: ``(received, total)``, the bytes so far
#: and the size announced by the server (None when unknown). Returning
#: ``False`` cancels the download (:class:`CancelledError`).
Progress = Callable[[int, Optional[int]], Optional[bool]]

BB_WAIT_STABLE = 1
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)

# ---------------------------------------------------------------------------
# Argument conversion
# ---------------------------------------------------------------------------


def _text(what: str, value: Optional[str], *, optional: bool = False) -> Optional[bytes]:
    """A string argument as NUL-terminated UTF-8 (None stays None if allowed)."""
    if value is None:
        if optional:
            return None
        raise TypeError(f"{what} must be a str, not None")
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if "\x00" in value:
        raise InvalidArgumentError(f"{what} contains a NUL character")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgumentError(f"{what} is not valid Unicode: {e}") from None


def _path(what: str, value: StrPath) -> bytes:
    """A path argument as bytes, the way ``os`` functions take it."""
    try:
        raw = os.fsencode(value)
    except TypeError:
        raise TypeError(
            f"{what} must be a str, bytes or os.PathLike, not {type(value).__name__}"
        ) from None
    if b"\x00" in raw:
        raise InvalidArgumentError(f"{what} contains a NUL byte")
    return raw


def _ms(
    what: str, seconds: Optional[Seconds], *, allow_zero: bool, none_means_max: bool = False
) -> int:
    """Seconds (int, float or timedelta) as whole milliseconds for a uint32_t.

    A positive duration under 1 ms becomes 1 ms rather than 0 (which means
    something else to the library)."""
    if seconds is None:
        if none_means_max:
            return _native.UINT32_MAX
        raise TypeError(f"{what} must be a number of seconds, not None")
    if isinstance(seconds, _dt.timedelta):
        value = seconds.total_seconds()
    elif isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(
            f"{what} must be a number of seconds or a timedelta, "
            f"not {type(seconds).__name__}"
        )
    else:
        value = float(seconds)
    if math.isnan(value) or value < 0 or (value == 0 and not allow_zero):
        limit = ">= 0" if allow_zero else "> 0"
        raise InvalidArgumentError(f"{what} must be {limit} seconds, not {seconds!r}")
    if math.isinf(value) or value * 1000 > _native.UINT32_MAX:
        raise InvalidArgumentError(
            f"{what} is too long: at most {_native.UINT32_MAX / 1000:.3f} seconds"
        )
    ms = int(round(value * 1000))
    return 1 if ms == 0 and value > 0 else ms


def _uint(what: str, value: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise InvalidArgumentError(f"{what} must be between 0 and {maximum}, not {value}")
    return value


def _flags(stable: bool) -> int:
    return BB_WAIT_STABLE if stable else 0


# ---------------------------------------------------------------------------
# Errors and buffers
# ---------------------------------------------------------------------------


def _lib() -> _native.Library:
    return _native.load()


def _raise_for(lib: _native.Library, rc: int, err: Any) -> None:
    """Raises the exception for a failed call, freeing ``err`` (always)."""
    try:
        if err:
            code = int(lib.bb_error_code(err))
            status = int(lib.bb_error_http_status(err))
            raw = lib.bb_error_message(err) or b""
            message = raw.decode("utf-8", "replace")
        else:
            code, status = rc, 0
            message = (lib.bb_code_name(rc) or b"BB_UNKNOWN_CODE").decode("ascii", "replace")
    finally:
        if err:
            lib.bb_error_free(err)
    raise make_error(code or rc, status, message)


def _check(lib: _native.Library, rc: int, err: Any) -> None:
    if rc != Code.BB_OK:
        _raise_for(lib, rc, err)
    elif err:  # never happens (the library writes *err only on failure)
        lib.bb_error_free(err)


def _call(fn_name: str, *args: Any) -> None:
    """Calls ``fn_name(*args, &err)`` and raises on failure."""
    lib = _lib()
    err = _native.ErrorP()
    rc = getattr(lib, fn_name)(*args, byref(err))
    _check(lib, rc, err)


def _call_buffer(fn_name: str, *args: Any, options: Any) -> bytes:
    """Calls ``fn_name(*args, &data, &len, options, &err)``; returns a copy
    of the buffer, which is freed with ``bb_buffer_free``."""
    lib = _lib()
    data = _native.BufferP()
    length = c_size_t(0)
    err = _native.ErrorP()
    rc = getattr(lib, fn_name)(*args, byref(data), byref(length), options, byref(err))
    _check(lib, rc, err)
    try:
        return ctypes.string_at(data, length.value) if data and length.value else b""
    finally:
        lib.bb_buffer_free(data, length.value)


def _writer(sink: Sink) -> Callable[[bytes], Any]:
    write = getattr(sink, "write", None)
    if callable(write):
        return write
    if callable(sink):
        return sink
    raise TypeError(
        f"sink must be callable or have a write() method, not {type(sink).__name__}"
    )


def _call_streaming(fn_name: str, sink: Sink, *args: Any, options: Any) -> int:
    """Calls ``fn_name(*args, trampoline, NULL, options, &err)``, handing each chunk to
    ``sink`` as ``bytes``. An exception raised by the sink cancels the
    download and is re-raised once the library has returned; ``False``
    returned by the sink cancels it (:class:`CancelledError`). Returns the
    number of bytes handed over."""
    write = _writer(sink)
    lib = _lib()
    raised: list = []
    total = [0]

    def trampoline(_user: Any, data: Any, length: int) -> int:
        # Nothing may escape into C: ctypes would print it and return 0.
        try:
            chunk = ctypes.string_at(data, length) if length else b""
            total[0] += length
            return 1 if write(chunk) is False else 0
        except BaseException as e:  # noqa: BLE001 - re-raised below
            raised.append(e)
            return 1

    callback = _native.WRITE_CALLBACK(trampoline)  # alive for the whole call
    err = _native.ErrorP()
    rc = getattr(lib, fn_name)(*args, callback, None, options, byref(err))
    if raised:
        if err:
            lib.bb_error_free(err)
        try:
            raise raised[0]
        finally:
            raised.clear()
    _check(lib, rc, err)
    return total[0]


def _session_ids(session_ids: Sequence[str]) -> list:
    """The ids as C strings; a lone string is refused (it would be read as a
    sequence of one-letter ids)."""
    if isinstance(session_ids, (str, bytes, bytearray)):
        raise TypeError("session_ids must be a sequence of session ids, not a single string")
    return [_text(f"session_ids[{i}]", s) for i, s in enumerate(session_ids)]


def _call_batch(client: Any, ids: list, key: Optional[bytes], dest: bytes, concurrency: int,
                options: Any) -> dict:
    """Calls ``bb_client_download_sessions_opts``; returns {id: None or
    exception}. Raises only when the call was refused as a whole (nothing was
    sent). Each failed session's reason comes from the batch progress
    callback's end report."""
    lib = _lib()
    count = len(ids)
    array = (ctypes.c_char_p * count)(*ids) if count else None
    codes = (_native.bb_code_t * count)() if count else None  # all BB_OK
    reasons: dict = {}

    def trampoline(_user: Any, progress: Any) -> int:
        # Nothing may escape into C: ctypes would print it and return 0.
        try:
            p = progress.contents
            if p.finished and p.code != Code.BB_OK and p.message:
                reasons[p.index] = ctypes.string_at(p.message).decode("utf-8", "replace")
            return 0
        except BaseException:  # noqa: BLE001 - a lost reason is not worth a cancel
            return 0

    callback = _native.BATCH_PROGRESS_CALLBACK(trampoline)  # alive for the whole call
    call = _native.BbCallOptions(options._obj.cancel if options is not None else None)
    call.batch_progress = ctypes.cast(callback, ctypes.c_void_p)
    err = _native.ErrorP()
    rc = lib.bb_client_download_sessions_opts(
        client, key, array, count, dest, concurrency, byref(call), codes, byref(err)
    )
    if rc != Code.BB_OK and not any(codes or ()):
        _raise_for(lib, rc, err)  # refused: every code still BB_OK
    if err:
        lib.bb_error_free(err)
    results: dict = {}
    for i, raw in enumerate(ids):
        code = codes[i]
        if code == Code.BB_OK:
            results[raw.decode("utf-8")] = None
        else:
            reason = reasons.get(i) or (
                "not downloaded: the batch was cancelled"
                if code == Code.BB_ERR_CANCELLED
                else (lib.bb_code_name(code) or b"").decode("ascii", "replace")
            )
            results[raw.decode("utf-8")] = make_error(code, 0, reason)
    return results


# ---------------------------------------------------------------------------
# Cancellation: a Cancel handle, and Ctrl-C
# ---------------------------------------------------------------------------


def _new_cancel() -> Any:
    out = _native.CancelP()
    _call("bb_cancel_new", byref(out))
    return out


def _invoke(run: Callable[[Any], Any], cancel: Optional["Cancel"]) -> Any:
    """Runs one blocking call, ``run(options)`` (``options`` the
    ``bb_call_options`` pointer to pass), so that it can be stopped.

    With ``cancel``, :meth:`Cancel.cancel` stops it. On the main thread,
    where Python runs signal handlers (Ctrl-C's KeyboardInterrupt), the call
    runs on a helper thread while the main thread waits in a way a signal
    interrupts: an exception raised there (KeyboardInterrupt) triggers the
    call's cancel handle (``cancel``'s, or one of its own), the call ends
    within about 100 ms leaving nothing behind, and the exception is raised
    again. Elsewhere it runs on the calling thread."""
    if cancel is not None and not isinstance(cancel, Cancel):
        raise TypeError(f"cancel must be a browserbase_c.Cancel, not {type(cancel).__name__}")
    on_main = threading.current_thread() is threading.main_thread()
    with contextlib.ExitStack() as stack:
        if cancel is not None:
            handle = stack.enter_context(cancel._use())
        elif on_main:
            handle = _new_cancel()
            lib = _lib()
            stack.callback(lib.bb_cancel_free, handle)
        else:
            return run(None)
        options = _native.BbCallOptions(handle)
        if not on_main:
            return run(byref(options))
        return _interruptible(run, byref(options), handle)


def _interruptible(run: Callable[[Any], Any], options: Any, handle: Any) -> Any:
    outcome: list = []
    done = threading.Event()

    def call() -> None:
        try:
            outcome.append((True, run(options)))
        except BaseException as e:  # noqa: BLE001 - raised again on the caller's thread
            outcome.append((False, e))
        finally:
            done.set()

    helper = threading.Thread(target=call, name="browserbase_c call", daemon=True)
    helper.start()
    interrupted: Optional[BaseException] = None
    while True:
        try:
            done.wait()
            break
        except BaseException as e:  # noqa: BLE001 - KeyboardInterrupt, or a signal handler's
            if interrupted is None:
                interrupted = e
                _lib().bb_cancel_trigger(handle)
            # Another one while the call winds down (within ~100 ms): keep
            # waiting; the first is raised.
    helper.join()
    if interrupted is not None:
        try:
            raise interrupted
        finally:
            del interrupted, outcome[:]
    ok, value = outcome.pop()
    if ok:
        return value
    try:
        raise value
    finally:
        del value


class _ProgressHook:
    """A client's progress callable, the C function pointer that calls it,
    and, per thread, the exception it raised during the current call.

    The C pointer must outlive the C client (the library calls it until
    ``bb_client_free``): the client's free function holds this object. The
    pointer's closure holds neither the hook nor the client, so no reference
    cycle ties them together."""

    def __init__(self, progress: Progress) -> None:
        if not callable(progress):
            raise TypeError(f"progress must be callable, not {type(progress).__name__}")
        local = threading.local()
        self._local = local

        def trampoline(_user: Any, received: int, total: int) -> int:
            # Nothing may escape into C: ctypes would print it and return 0.
            try:
                return 1 if progress(received, total if total >= 0 else None) is False else 0
            except BaseException as e:  # noqa: BLE001 - re-raised by Client._run
                raised = getattr(local, "raised", None)
                if raised is not None and not raised:
                    raised.append(e)
                return 1

        self.callback = _native.PROGRESS_CALLBACK(trampoline)

    def enter(self) -> Optional[list]:
        """Starts a call on this thread; returns the outer call's slot (the
        callable may itself download through the same client)."""
        outer = getattr(self._local, "raised", None)
        self._local.raised = []
        return outer

    def leave(self, outer: Optional[list]) -> Optional[BaseException]:
        """Ends a call: the exception the callable raised in it, if any."""
        raised = self._local.raised
        self._local.raised = outer
        return raised[0] if raised else None


# ---------------------------------------------------------------------------
# Owned C handles
# ---------------------------------------------------------------------------


class _Handle:
    """A C handle freed by ``close()``, the garbage collector, or the last
    call still using it once ``close()`` was asked for (so closing from
    another thread never frees a handle under a running call)."""

    _kind = "handle"

    def __init__(self, ptr: Any, free: Callable[[Any], None]) -> None:
        self.__ptr = ptr
        self.__free = free
        self.__lock = threading.Lock()
        self.__users = 0
        self.__closing = False

    @contextmanager
    def _use(self) -> Iterator[Any]:
        with self.__lock:
            if self.__ptr is None or self.__closing:
                raise InvalidArgumentError(f"this {self._kind} is closed")
            self.__users += 1
            ptr = self.__ptr
        try:
            yield ptr
        finally:
            release = None
            with self.__lock:
                self.__users -= 1
                if self.__closing and self.__users == 0 and self.__ptr is not None:
                    release, self.__ptr = self.__ptr, None
            if release is not None:
                self.__free(release)

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self.__ptr is None or self.__closing

    def close(self) -> None:
        """Frees the C object (after the calls still using it, if any).
        Closing twice is fine."""
        release = None
        with self.__lock:
            if self.__ptr is None or self.__closing:
                return
            self.__closing = True
            if self.__users == 0:
                release, self.__ptr = self.__ptr, None
        if release is not None:
            self.__free(release)

    def __del__(self) -> None:
        try:
            ptr = self.__ptr
        except AttributeError:  # __init__ did not run to the end
            return
        if ptr is not None:
            self.__ptr = None
            try:
                self.__free(ptr)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass


class Cancel(_Handle):
    """A cancel handle: :meth:`cancel` stops every call given it
    (``cancel=``) with :class:`CancelledError`, within about 100 ms, even
    while the server is silent, leaving nothing behind (no file, no
    temporary file). Safe from any thread (also from a signal handler). A
    handle stays cancelled: make a new one per operation. One handle may
    serve several calls at once. It holds one file descriptor until
    :meth:`close` (or garbage collection); closing waits for no call, the
    descriptor is released when the last call using it returns.

    ::

        cancel = bb.Cancel()
        threading.Timer(5.0, cancel.cancel).start()
        try:
            bb.download(session_id, "out.zip", cancel=cancel)
        except bb.CancelledError:
            ...
    """

    _kind = "cancel handle"

    def __init__(self) -> None:
        lib = _lib()
        super().__init__(_new_cancel(), lib.bb_cancel_free)

    def cancel(self) -> None:
        """Stops the calls using this handle, now and later. Calling it again,
        or after :meth:`close`, does nothing."""
        try:
            with self._use() as handle:
                _lib().bb_cancel_trigger(handle)
        except InvalidArgumentError:  # closed: no call can use it any more
            pass

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        try:
            with self._use() as handle:
                return bool(_lib().bb_cancel_is_triggered(handle))
        except InvalidArgumentError:
            return False

    def __enter__(self) -> "Cancel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("cancelled" if self.cancelled else "armed")
        return f"<browserbase_c.Cancel {state}>"


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------


class Client(_Handle):
    """A configured client: settings plus a pool of kept-alive connections.

    Every setting is optional; ``None`` keeps the default. Durations are in
    seconds (``int``, ``float`` or ``timedelta``)::

        with Client(api_key="bb_live_...", timeout=30, max_retries=5) as client:
            client.download(session_id, "downloads.zip")

    - ``load_env`` (default True): start from the ``BROWSERBASE_*``
      environment variables (``BROWSERBASE_API_KEY``, ``BROWSERBASE_BASE_URL``,
      ``BROWSERBASE_TIMEOUT_MS``...), as the official SDK reads its key and
      base URL; the keywords then override them. False: the built-in
      defaults only (a call without a key still reads ``BROWSERBASE_API_KEY``).
    - ``base_url``: the service, default ``https://api.browserbase.com``;
      plain ``http://`` only for loopback hosts.
    - ``api_key``: used by calls that pass none.
    - ``connect_timeout`` (default 5 s), ``timeout`` (longest silence while
      waiting for or reading a response, default 60 s), ``deadline`` (a limit
      on a whole call, retries and waits included; 0 = none, the default).
    - ``max_retries`` (default 2, at most 100), ``user_agent_suffix``
      (appended to ``browserbase-c/<version>``), ``ca_file`` (a PEM file, or
      a list of them, of extra CA certificates), ``proxy`` (a URL),
      ``fsync`` (flush downloaded files to disk before returning),
      ``max_archive_bytes`` (the largest archive accepted; a larger one
      raises :class:`APIStatusError` (``BB_ERR_HTTP``, status 0), not retried;
      0 or ``None``: no limit, the default), ``resume`` (default ``True``: a
      retry after a cut body continues it with a range request when the
      server allows; ``False``: every retry starts over).
    - ``progress``: a callable ``progress(received, total)`` told how each
      download through the client goes: before the first byte with
      ``received`` 0, then after every chunk; ``total`` is the size the
      server announced (``None`` when unknown). A retried download (or each
      poll of :meth:`wait_for_downloads`) starts again from 0. Returning
      ``False`` cancels the download with :class:`CancelledError`; an
      exception it raises cancels it too, and propagates from the call. It
      runs on the thread that called the method (several at once when the
      client is shared between threads).

    A bad setting raises :class:`InvalidArgumentError`. A client may be
    shared between threads. Create clients after ``os.fork()``, not before.
    """

    _kind = "client"

    def __init__(
        self,
        *,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        connect_timeout: Optional[Seconds] = None,
        timeout: Optional[Seconds] = None,
        deadline: Optional[Seconds] = None,
        max_retries: Optional[int] = None,
        user_agent_suffix: Optional[str] = None,
        ca_file: Union[StrPath, Sequence[StrPath], None] = None,
        proxy: Optional[str] = None,
        fsync: Optional[bool] = None,
        max_archive_bytes: Optional[int] = None,
        resume: Optional[bool] = None,
        progress: Optional[Progress] = None,
        load_env: bool = True,
    ) -> None:
        # Convert everything before touching the library.
        self._progress_hook = None if progress is None else _ProgressHook(progress)
        steps: list = []
        if base_url is not None:
            steps.append(("bb_client_builder_set_base_url", _text("base_url", base_url)))
        if api_key is not None:
            steps.append(("bb_client_builder_set_api_key", _text("api_key", api_key)))
        if connect_timeout is not None:
            steps.append(
                (
                    "bb_client_builder_set_connect_timeout_ms",
                    _ms("connect_timeout", connect_timeout, allow_zero=False),
                )
            )
        if timeout is not None:
            steps.append(
                ("bb_client_builder_set_timeout_ms", _ms("timeout", timeout, allow_zero=False))
            )
        if deadline is not None:
            steps.append(
                ("bb_client_builder_set_deadline_ms", _ms("deadline", deadline, allow_zero=True))
            )
        if max_retries is not None:
            steps.append(
                (
                    "bb_client_builder_set_max_retries",
                    _uint("max_retries", max_retries, _native.UINT32_MAX),
                )
            )
        if user_agent_suffix is not None:
            steps.append(
                (
                    "bb_client_builder_set_user_agent_suffix",
                    _text("user_agent_suffix", user_agent_suffix),
                )
            )
        if ca_file is not None:
            files = (
                list(ca_file)
                if isinstance(ca_file, (list, tuple))
                else [ca_file]
            )
            for f in files:
                steps.append(("bb_client_builder_add_ca_file", _path("ca_file", f)))
        if proxy is not None:
            steps.append(("bb_client_builder_set_proxy", _text("proxy", proxy)))
        if fsync is not None:
            steps.append(("bb_client_builder_set_fsync", 1 if fsync else 0))
        if max_archive_bytes is not None:
            steps.append(
                (
                    "bb_client_builder_set_max_archive_bytes",
                    _uint("max_archive_bytes", max_archive_bytes, _native.UINT64_MAX),
                )
            )
        if resume is not None:
            steps.append(("bb_client_builder_set_resume", 1 if resume else 0))

        lib = _lib()
        hook = self._progress_hook
        builder = lib.bb_client_builder_new()
        if not builder:
            raise make_error(Code.BB_ERR_INTERNAL, 0, "bb_client_builder_new returned NULL")
        try:
            if load_env:
                _call("bb_client_builder_load_env", builder)
            for fn_name, value in steps:
                _call(fn_name, builder, value)
            if hook is not None:
                _call("bb_client_builder_set_progress", builder, hook.callback, None)
            client = _native.ClientP()
            _call("bb_client_new", builder, byref(client))
        finally:
            lib.bb_client_builder_free(builder)
        if hook is None:
            free = lib.bb_client_free
        else:

            def free(ptr: Any, _keep_alive: _ProgressHook = hook) -> None:
                # The C callback lives at least until the client is freed,
                # whether by close(), the last call, or the garbage collector.
                lib.bb_client_free(ptr)

        super().__init__(client, free)
        self._base_url = base_url

    @classmethod
    def from_env(cls) -> "Client":
        """A client with exactly the settings of the module-level functions:
        the built-in defaults and the ``BROWSERBASE_*`` variables."""
        return cls()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        url = f" base_url={self._base_url!r}" if self._base_url else ""
        return f"<browserbase_c.Client{url} {state}>"

    def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``; an exception the progress callable raised
        during it is raised instead of the :class:`CancelledError` it caused."""
        hook = self._progress_hook
        if hook is None:
            return fn(*args, **kwargs)
        outer = hook.enter()
        try:
            result = fn(*args, **kwargs)
        except BaseException:
            raised = hook.leave(outer)
            if raised is None:
                raise
        else:
            raised = hook.leave(outer)
            if raised is None:
                return result
        # Outside the except block: the user's exception is raised as itself,
        # not "during handling of" the CancelledError.
        try:
            raise raised
        finally:
            del raised  # no cycle frame -> exception -> traceback -> frame

    # -- downloads ---------------------------------------------------------

    def download(
        self,
        session_id: str,
        path: StrPath,
        *,
        api_key: Optional[str] = None,
        cancel: Optional[Cancel] = None,
    ) -> None:
        """Downloads session ``session_id``'s archive to the file ``path``,
        atomically (a failure leaves any file at ``path`` untouched).
        ``cancel``: a :class:`Cancel` that can stop it; Ctrl-C stops it too
        (see :class:`Cancel`)."""
        args = (_text("api_key", api_key, optional=True), _text("session_id", session_id))
        dest = _path("path", path)
        with self._use() as client:
            _invoke(
                lambda o: self._run(_call, "bb_client_download_opts", client, *args, dest, o),
                cancel,
            )

    def download_bytes(
        self, session_id: str, *, api_key: Optional[str] = None, cancel: Optional[Cancel] = None
    ) -> bytes:
        """Downloads session ``session_id``'s archive into memory."""
        args = (_text("api_key", api_key, optional=True), _text("session_id", session_id))
        with self._use() as client:
            return _invoke(
                lambda o: self._run(
                    _call_buffer, "bb_client_download_to_buffer_opts", client, *args, options=o
                ),
                cancel,
            )

    def download_to(
        self,
        session_id: str,
        sink: Sink,
        *,
        api_key: Optional[str] = None,
        cancel: Optional[Cancel] = None,
    ) -> int:
        """Streams session ``session_id``'s archive, chunk by chunk, to
        ``sink`` (a callable taking ``bytes``, or a binary file); returns the
        number of bytes. An exception raised by ``sink`` cancels the download
        and propagates; ``sink`` returning ``False`` cancels it with
        :class:`CancelledError`. The start of the data is checked to be a ZIP
        archive before the first chunk, and its end (end record and central
        directory, see the C header) before this returns: treat the data as
        unverified until then."""
        args = (_text("api_key", api_key, optional=True), _text("session_id", session_id))
        _writer(sink)  # a bad sink is refused before anything is sent
        with self._use() as client:
            return _invoke(
                lambda o: self._run(
                    _call_streaming,
                    "bb_client_download_to_callback_opts",
                    sink,
                    client,
                    *args,
                    options=o,
                ),
                cancel,
            )

    def download_sessions(
        self,
        session_ids: Sequence[str],
        dir: StrPath,
        concurrency: int = 8,
        *,
        api_key: Optional[str] = None,
        cancel: Optional[Cancel] = None,
    ) -> "dict[str, Optional[BrowserbaseError]]":
        """Downloads each session of ``session_ids`` to ``dir/<name>.zip``
        (``dir`` must exist; the name is the id, with bytes outside
        ``A-Za-z0-9._-`` and a leading ``.`` written ``%XX``), at most
        ``concurrency`` at once (0: 8; at most 64), each atomically and with
        the client's retries on its own. Returns a dict mapping each id to
        ``None`` (downloaded) or the exception its download failed with: one
        failure never stops the others. Raises only when the call is refused
        before anything is sent (:class:`InvalidArgumentError`: no ids, a bad
        or duplicate id; :class:`LocalIOError`: ``dir`` is not a directory).
        ``cancel`` (or Ctrl-C, which then raises KeyboardInterrupt) stops the
        batch: finished files stay, the others leave nothing and map to
        :class:`CancelledError`. The client's progress callable hears each
        session."""
        ids = _session_ids(session_ids)
        key = _text("api_key", api_key, optional=True)
        dest = _path("dir", dir)
        n = _uint("concurrency", concurrency, _native.UINT32_MAX)
        with self._use() as client:
            return _invoke(
                lambda o: self._run(_call_batch, client, ids, key, dest, n, o), cancel
            )

    def wait_for_downloads(
        self,
        session_id: str,
        path: Optional[StrPath] = None,
        *,
        timeout: Optional[Seconds] = 60.0,
        stable: bool = False,
        api_key: Optional[str] = None,
        cancel: Optional[Cancel] = None,
    ) -> Optional[bytes]:
        """Polls until session ``session_id``'s archive holds at least one
        file (with ``stable``, also until two polls in a row see the same
        files), then writes it to ``path`` atomically, or returns it as
        ``bytes`` when ``path`` is None.

        ``timeout``: seconds to wait (0 polls once; None waits as long as
        the library allows, about 49 days). Runs out: :class:`NotReadyError`.
        """
        args = (
            _text("api_key", api_key, optional=True),
            _text("session_id", session_id),
            _ms("timeout", timeout, allow_zero=True, none_means_max=True),
            _flags(stable),
        )
        dest = None if path is None else _path("path", path)
        with self._use() as client:
            if dest is None:
                return _invoke(
                    lambda o: self._run(
                        _call_buffer,
                        "bb_client_wait_for_downloads_to_buffer_opts",
                        client,
                        *args,
                        options=o,
                    ),
                    cancel,
                )
            _invoke(
                lambda o: self._run(
                    _call, "bb_client_wait_for_downloads_opts", client, *args, dest, o
                ),
                cancel,
            )
            return None

    def extract_downloads(
        self,
        session_id: str,
        dir: StrPath,
        *,
        timeout: Optional[Seconds] = 60.0,
        stable: bool = False,
        api_key: Optional[str] = None,
        cancel: Optional[Cancel] = None,
    ) -> None:
        """Waits for session ``session_id``'s files as
        :meth:`wait_for_downloads` does, then extracts them safely into
        ``dir`` (created if missing) under their original names. The archive
        never lands in memory or in a visible file."""
        args = (
            _text("api_key", api_key, optional=True),
            _text("session_id", session_id),
            _ms("timeout", timeout, allow_zero=True, none_means_max=True),
            _flags(stable),
        )
        dest = _path("dir", dir)
        with self._use() as client:
            _invoke(
                lambda o: self._run(
                    _call, "bb_client_extract_downloads_opts", client, *args, dest, o
                ),
                cancel,
            )


# ---------------------------------------------------------------------------
# Module-level functions: the library's process-wide default client
# ---------------------------------------------------------------------------

_env_client_lock = threading.Lock()
_env_client: Optional[Client] = None


def _forget_env_client() -> None:
    # In a forked child, make a new client on demand (from the child's own
    # environment) and leave the parent's alone: a thread of the parent that
    # does not exist here may have been using it.
    global _env_client
    _env_client = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_env_client)


def _stable_client() -> Client:
    """The library's default client takes no wait flags; ``stable=True`` at
    module level goes through a client built the same way (from the
    environment), made once."""
    global _env_client
    with _env_client_lock:
        if _env_client is None:
            _env_client = Client()
        return _env_client


def download(
    session_id: str,
    path: StrPath,
    *,
    api_key: Optional[str] = None,
    cancel: Optional[Cancel] = None,
) -> None:
    """Downloads session ``session_id``'s archive to the file ``path``,
    atomically. ``api_key`` None reads ``BROWSERBASE_API_KEY``; the other
    settings come from the ``BROWSERBASE_*`` variables, read once, when the
    library's process-wide client is first used. ``cancel``: a
    :class:`Cancel` that can stop it; Ctrl-C stops it too."""
    args = (_text("api_key", api_key, optional=True), _text("session_id", session_id))
    dest = _path("path", path)
    _invoke(lambda o: _call("bb_client_download_opts", None, *args, dest, o), cancel)


def download_sessions(
    session_ids: Sequence[str],
    dir: StrPath,
    concurrency: int = 8,
    *,
    api_key: Optional[str] = None,
    cancel: Optional[Cancel] = None,
) -> "dict[str, Optional[BrowserbaseError]]":
    """Downloads many sessions into ``dir`` with the library's process-wide
    client, as :meth:`Client.download_sessions`: returns ``{id: None or
    exception}``."""
    ids = _session_ids(session_ids)
    key = _text("api_key", api_key, optional=True)
    dest = _path("dir", dir)
    n = _uint("concurrency", concurrency, _native.UINT32_MAX)
    return _invoke(lambda o: _call_batch(None, ids, key, dest, n, o), cancel)


def download_bytes(
    session_id: str, *, api_key: Optional[str] = None, cancel: Optional[Cancel] = None
) -> bytes:
    """Downloads session ``session_id``'s archive into memory."""
    args = (_text("api_key", api_key, optional=True), _text("session_id", session_id))
    return _invoke(
        lambda o: _call_buffer("bb_client_download_to_buffer_opts", None, *args, options=o),
        cancel,
    )


def download_to(
    session_id: str, sink: Sink, *, api_key: Optional[str] = None, cancel: Optional[Cancel] = None
) -> int:
    """Streams session ``session_id``'s archive to ``sink``, as
    :meth:`Client.download_to`; returns the number of bytes."""
    args = (_text("api_key", api_key, optional=True), _text("session_id", session_id))
    _writer(sink)
    return _invoke(
        lambda o: _call_streaming(
            "bb_client_download_to_callback_opts", sink, None, *args, options=o
        ),
        cancel,
    )


def wait_for_downloads(
    session_id: str,
    path: Optional[StrPath] = None,
    *,
    timeout: Optional[Seconds] = 60.0,
    stable: bool = False,
    api_key: Optional[str] = None,
    cancel: Optional[Cancel] = None,
) -> Optional[bytes]:
    """Polls until the session's files are there, as
    :meth:`Client.wait_for_downloads`: writes the archive to ``path``, or
    returns it as ``bytes`` when ``path`` is None."""
    if stable:
        return _stable_client().wait_for_downloads(
            session_id, path, timeout=timeout, stable=True, api_key=api_key, cancel=cancel
        )
    args = (
        _text("api_key", api_key, optional=True),
        _text("session_id", session_id),
        _ms("timeout", timeout, allow_zero=True, none_means_max=True),
        0,
    )
    if path is None:
        return _invoke(
            lambda o: _call_buffer(
                "bb_client_wait_for_downloads_to_buffer_opts", None, *args, options=o
            ),
            cancel,
        )
    dest = _path("path", path)
    _invoke(lambda o: _call("bb_client_wait_for_downloads_opts", None, *args, dest, o), cancel)
    return None


def extract_downloads(
    session_id: str,
    dir: StrPath,
    *,
    timeout: Optional[Seconds] = 60.0,
    stable: bool = False,
    api_key: Optional[str] = None,
    cancel: Optional[Cancel] = None,
) -> None:
    """Waits for the session's files, then extracts them safely into
    ``dir``, as :meth:`Client.extract_downloads`."""
    if stable:
        _stable_client().extract_downloads(
            session_id, dir, timeout=timeout, stable=True, api_key=api_key, cancel=cancel
        )
        return
    args = (
        _text("api_key", api_key, optional=True),
        _text("session_id", session_id),
        _ms("timeout", timeout, allow_zero=True, none_means_max=True),
        0,
    )
    dest = _path("dir", dir)
    _invoke(lambda o: _call("bb_client_extract_downloads_opts", None, *args, dest, o), cancel)


def extract(zip_path: StrPath, dir: StrPath, *, cancel: Optional[Cancel] = None) -> None:
    """Extracts the archive at ``zip_path`` safely into ``dir`` (created if
    missing) with the default zip-bomb limits; see :meth:`Archive.extract_to`."""
    source = _path("zip_path", zip_path)
    dest = _path("dir", dir)
    with Archive.open_file(source) as archive:
        archive.extract_to(dest, cancel=cancel)


def version() -> str:
    """The loaded library's version, such as ``"0.1.0"``."""
    return _lib().bb_version().decode("ascii")


def library_path() -> str:
    """The path of the loaded library (loading it if needed)."""
    return _lib().path


# ---------------------------------------------------------------------------
# Archives
# ---------------------------------------------------------------------------


def _time(**since_epoch: int) -> Optional[_dt.datetime]:
    """1970-01-01 UTC plus the duration, or None when out of datetime's range."""
    try:
        return _EPOCH + _dt.timedelta(**since_epoch)
    except OverflowError:
        return None


@dataclass(frozen=True)
class Entry:
    """One entry of an archive."""

    #: The name as stored, such as ``"report-1719265797164.pdf"``; a
    #: directory's ends with ``/``. It may be hostile (``"../x"``): extract
    #: with :meth:`Archive.extract_to`, which checks every name.
    name: str
    #: The name without the service's timestamp: ``"report.pdf"``.
    original_name: str
    #: Uncompressed size in bytes, as the archive declares it.
    size: int
    #: The entry's modification time (UTC, 2-second precision), or None.
    mtime: Optional[_dt.datetime]
    #: When the browser downloaded the file (from the stored name), or None.
    download_time: Optional[_dt.datetime]

    @property
    def is_dir(self) -> bool:
        """True for a directory entry."""
        return self.name.endswith("/")


class Archive(_Handle):
    """An opened ZIP archive: its entries, and safe extraction::

        with Archive.open("downloads.zip") as archive:
            for entry in archive:
                print(entry.original_name, entry.size)
            archive.extract_to("out")

    A file stays open (and is read as needed) until :meth:`close`.
    """

    _kind = "archive"

    def __init__(self, ptr: Any, lib: _native.Library) -> None:
        """Use :meth:`open`, :meth:`open_file` or :meth:`from_bytes`."""
        super().__init__(ptr, lib.bb_archive_free)
        self._limits: Tuple[int, int] = (0, 0)
        try:
            with self._use() as archive:
                self._entries = tuple(self._read_entries(lib, archive))
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _read_entries(lib: _native.Library, archive: Any) -> Iterator[Entry]:
        for i in range(lib.bb_archive_entry_count(archive)):
            raw = _native.BbArchiveEntry()
            _call("bb_archive_entry_at", archive, i, byref(raw))
            yield Entry(
                name=(raw.name or b"").decode("utf-8", "surrogateescape"),
                original_name=(raw.original_name or b"").decode("utf-8", "surrogateescape"),
                size=raw.size,
                mtime=_time(seconds=raw.mtime_unix) if raw.mtime_unix >= 0 else None,
                download_time=(
                    _time(milliseconds=raw.download_time_ms)
                    if raw.download_time_ms >= 0
                    else None
                ),
            )

    @classmethod
    def open(cls, source: Union[StrPath, bytes, bytearray, memoryview]) -> "Archive":
        """Opens an archive from a path (``str`` or ``os.PathLike``) or from
        its contents (``bytes``, ``bytearray``, ``memoryview``). For a path
        given as ``bytes``, use :meth:`open_file`."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            return cls.from_bytes(source)
        return cls.open_file(source)

    @classmethod
    def open_file(cls, path: StrPath) -> "Archive":
        """Opens the archive in the file at ``path`` (bytes are a path here)."""
        raw = _path("path", path)
        lib = _lib()
        out = _native.ArchiveP()
        _call("bb_archive_open_file", raw, byref(out))
        return cls(out, lib)

    @classmethod
    def from_bytes(cls, data: Union[bytes, bytearray, memoryview]) -> "Archive":
        """Opens the archive held in ``data`` (copied: ``data`` may change
        afterwards)."""
        lib = _lib()
        out = _native.ArchiveP()
        if isinstance(data, bytes):
            # Borrowed for the call, not copied here: the library copies it.
            _call("bb_archive_open_buffer", data, len(data), byref(out))
            return cls(out, lib)
        view = memoryview(data).cast("B")
        if view.nbytes == 0:
            _call("bb_archive_open_buffer", None, 0, byref(out))
        elif view.readonly:
            raw = view.tobytes()
            _call("bb_archive_open_buffer", raw, len(raw), byref(out))
        else:
            array = (ctypes.c_uint8 * view.nbytes).from_buffer(view)
            try:
                _call("bb_archive_open_buffer", array, view.nbytes, byref(out))
            finally:
                del array
                view.release()
        return cls(out, lib)

    @property
    def entries(self) -> Tuple[Entry, ...]:
        """The entries, in the archive's order (0 for the service's empty
        archive). Still readable after :meth:`close`."""
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    def __getitem__(self, index: int) -> Entry:
        return self._entries[index]

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<browserbase_c.Archive {len(self)} entries {state}>"

    def set_limits(
        self, *, max_total_bytes: Optional[int] = None, max_ratio: Optional[int] = None
    ) -> None:
        """Changes the zip-bomb limits :meth:`extract_to` enforces: the most
        bytes one extraction may write (default 4 GiB) and the most an entry
        may expand (default 200:1, checked past 1 MiB). None keeps a limit
        as it is; 0 restores its default."""
        total, ratio = self._limits
        if max_total_bytes is not None:
            total = _uint("max_total_bytes", max_total_bytes, _native.UINT64_MAX)
        if max_ratio is not None:
            ratio = _uint("max_ratio", max_ratio, _native.UINT32_MAX)
        with self._use() as archive:
            _call("bb_archive_set_limits", archive, total, ratio)
        self._limits = (total, ratio)

    def extract_to(self, dir: StrPath, *, cancel: Optional[Cancel] = None) -> None:
        """Extracts every entry into ``dir`` (created if missing), safely:
        an unsafe name, a symbolic link or an encrypted entry refuses the
        whole archive (:class:`InvalidArchiveError`, nothing written); files
        get their original names (the timestamped ones when two collide);
        a failure leaves ``dir`` as it was."""
        dest = _path("dir", dir)
        with self._use() as archive:
            _invoke(lambda o: _call("bb_archive_extract_to_opts", archive, dest, o), cancel)


__all__ = [
    "Archive",
    "BrowserbaseError",
    "Cancel",
    "Client",
    "Entry",
    "Progress",
    "download",
    "download_bytes",
    "download_to",
    "extract",
    "extract_downloads",
    "library_path",
    "version",
    "wait_for_downloads",
]
