"""End-to-end tests of libbrowserbase's C ABI, driven from Python through ctypes.

The real shared library is loaded with ctypes and downloads, through every
entry point (file, buffer, callback; default client and client handle), from a
`bb-stand-in-server --demo` that this module starts on loopback and stops.

Standard library only. From the repository root, after `cargo build`:

    python3 -m unittest discover -s tests/python -v

Locations can be overridden with the environment variables BB_LIBRARY (the
.so) and BB_STAND_IN_SERVER (the server binary).

Every numeric code is taken from include/browserbase.h, so this file and the
header cannot drift apart silently; ABI values the header promises never to
change are pinned separately.
"""

import ctypes
import io
import os
import re
import sys
import tempfile
import threading
import time
import unittest
import zipfile
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    byref,
    c_char_p,
    c_int,
    c_size_t,
    c_uint8,
    c_uint32,
    c_void_p,
)

# ---------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin  # noqa: E402
from standin import (  # noqa: E402
    API_KEY,
    DEMO_SESSION,
    EMPTY_SESSION,
    EMPTY_ZIP,
    HEADER,
    UNKNOWN_SESSION,
    control,
    new_session,
    request_count,
    request_log,
    served_archive,
)

LIBRARY = os.environ.get("BB_LIBRARY") or os.path.join(standin.DEBUG_DIR, "libbrowserbase.so")
DEMO_NAME_PATTERNS = (r"report-\d{13}\.pdf", r"data-\d{13}\.csv")

# ---------------------------------------------------------------------------
# The header: codes and version, parsed rather than copied
# ---------------------------------------------------------------------------


def _parse_header(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    enum = re.search(r"typedef enum bb_code \{(.*?)\} bb_code;", text, re.S)
    if enum is None:
        raise AssertionError(f"{path}: no `typedef enum bb_code {{...}} bb_code;`")
    codes = {
        name: int(value)
        for name, value in re.findall(
            r"^\s*(BB_[A-Z0-9_]+)\s*=\s*(\d+)\s*,?\s*$", enum.group(1), re.M
        )
    }
    defines = dict(
        re.findall(r'^#define\s+(BB_VERSION_\w+)\s+"?([^"\s]*)"?\s*$', text, re.M)
    )
    return codes, defines


CODES, VERSION_DEFINES = _parse_header(HEADER)


def _code(name):
    try:
        return CODES[name]
    except KeyError:
        raise AssertionError(f"{HEADER} does not define {name}") from None


BB_OK = _code("BB_OK")
BB_ERR_INVALID_ARGUMENT = _code("BB_ERR_INVALID_ARGUMENT")
BB_ERR_AUTHENTICATION = _code("BB_ERR_AUTHENTICATION")
BB_ERR_NOT_FOUND = _code("BB_ERR_NOT_FOUND")
BB_ERR_CONNECTION = _code("BB_ERR_CONNECTION")
BB_ERR_TIMEOUT = _code("BB_ERR_TIMEOUT")
BB_ERR_INVALID_ARCHIVE = _code("BB_ERR_INVALID_ARCHIVE")
BB_ERR_CANCELLED = _code("BB_ERR_CANCELLED")

# ---------------------------------------------------------------------------
# ctypes declarations
# ---------------------------------------------------------------------------


class BbError(Structure):
    """Opaque `bb_error`."""


class BbClient(Structure):
    """Opaque `bb_client`."""


class BbClientBuilder(Structure):
    """Opaque `bb_client_builder`."""


ErrorP = POINTER(BbError)
ErrorPP = POINTER(ErrorP)
ClientP = POINTER(BbClient)
BuilderP = POINTER(BbClientBuilder)
BufferP = POINTER(c_uint8)
WRITE_CALLBACK = CFUNCTYPE(c_int, c_void_p, POINTER(c_uint8), c_size_t)
bb_code_t = c_int  # a C enum: int-sized

PROTOTYPES = {
    # name: (restype, argtypes)
    "bb_version": (c_char_p, []),
    "bb_version_number": (ctypes.c_uint32, []),
    "bb_code_name": (c_char_p, [bb_code_t]),
    "bb_error_code": (bb_code_t, [ErrorP]),
    "bb_error_http_status": (c_int, [ErrorP]),
    "bb_error_message": (c_char_p, [ErrorP]),
    "bb_error_free": (None, [ErrorP]),
    "bb_buffer_free": (None, [BufferP, c_size_t]),
    "bb_download_session": (bb_code_t, [c_char_p, c_char_p, c_char_p, ErrorPP]),
    "bb_download_session_to_buffer": (
        bb_code_t,
        [c_char_p, c_char_p, POINTER(BufferP), POINTER(c_size_t), ErrorPP],
    ),
    "bb_download_session_to_callback": (
        bb_code_t,
        [c_char_p, c_char_p, WRITE_CALLBACK, c_void_p, ErrorPP],
    ),
    "bb_client_builder_new": (BuilderP, []),
    "bb_client_builder_free": (None, [BuilderP]),
    "bb_client_builder_set_base_url": (bb_code_t, [BuilderP, c_char_p, ErrorPP]),
    "bb_client_builder_set_api_key": (bb_code_t, [BuilderP, c_char_p, ErrorPP]),
    "bb_client_builder_set_max_retries": (bb_code_t, [BuilderP, c_uint32, ErrorPP]),
    "bb_client_builder_set_timeout_ms": (bb_code_t, [BuilderP, c_uint32, ErrorPP]),
    "bb_client_builder_set_user_agent_suffix": (
        bb_code_t,
        [BuilderP, c_char_p, ErrorPP],
    ),
    "bb_client_new": (bb_code_t, [BuilderP, POINTER(ClientP), ErrorPP]),
    "bb_client_free": (None, [ClientP]),
    "bb_client_download": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, c_char_p, ErrorPP],
    ),
    "bb_client_download_to_buffer": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, POINTER(BufferP), POINTER(c_size_t), ErrorPP],
    ),
    "bb_client_download_to_callback": (
        bb_code_t,
        [ClientP, c_char_p, c_char_p, WRITE_CALLBACK, c_void_p, ErrorPP],
    ),
}

# ---------------------------------------------------------------------------
# Module fixture: the stand-in server and the library
# ---------------------------------------------------------------------------

lib = None
BASE_URL = None


def setUpModule():
    global lib, BASE_URL
    standin.require("the library", LIBRARY, "BB_LIBRARY")
    BASE_URL = standin.start()
    try:
        # The default client reads BROWSERBASE_* once, on its first use in the
        # process (so this module can only be set up once per process): set
        # them before the library is even loaded.
        standin.set_environment({"BROWSERBASE_BASE_URL": BASE_URL, "BROWSERBASE_API_KEY": API_KEY})
        loaded = ctypes.CDLL(LIBRARY)
        for name, (restype, argtypes) in PROTOTYPES.items():
            fn = getattr(loaded, name)
            fn.restype = restype
            fn.argtypes = argtypes
        lib = loaded
    except BaseException:
        # unittest does not call tearDownModule when setUpModule fails.
        standin.stop()
        raise


def tearDownModule():
    standin.stop()


def archive_via_urllib(session_id):
    """The archive as the server serves it, fetched without the library."""
    return served_archive(session_id)


# ---------------------------------------------------------------------------
# Calling the library
# ---------------------------------------------------------------------------


class Failure:
    """A bb_error, read and then freed."""

    def __init__(self, code, http_status, message):
        self.code = code
        self.http_status = http_status
        self.message = message

    def __repr__(self):
        name = lib.bb_code_name(self.code).decode()
        return f"<{name} http={self.http_status} {self.message!r}>"


def _b(value):
    return value.encode("utf-8") if isinstance(value, str) else value


def _finish(rc, err):
    """Checks the ownership rules on *err, reads the error and frees it."""
    if rc == BB_OK:
        if err:
            lib.bb_error_free(err)
            raise AssertionError("*err was written although the call succeeded")
        return None
    if not err:
        raise AssertionError(f"call failed with {rc} but *err stayed NULL")
    try:
        raw = lib.bb_error_message(err)
        failure = Failure(
            lib.bb_error_code(err),
            lib.bb_error_http_status(err),
            raw.decode("utf-8"),  # documented as UTF-8: strict decode
        )
    finally:
        lib.bb_error_free(err)
    if failure.code != rc:
        raise AssertionError(f"returned {rc}, but bb_error_code says {failure!r}")
    return failure


def download_to_file(session_id, path, api_key=None, client=None):
    err = ErrorP()
    if client is None:
        rc = lib.bb_download_session(_b(api_key), _b(session_id), _b(path), byref(err))
    else:
        rc = lib.bb_client_download(
            client, _b(api_key), _b(session_id), _b(path), byref(err)
        )
    return rc, _finish(rc, err)


_LEN_SENTINEL = 0xB0B0


def download_to_buffer(session_id, api_key=None, client=None):
    """Returns (rc, bytes or None, Failure or None); the buffer is freed."""
    data = BufferP()
    length = c_size_t(_LEN_SENTINEL)
    err = ErrorP()
    if client is None:
        rc = lib.bb_download_session_to_buffer(
            _b(api_key), _b(session_id), byref(data), byref(length), byref(err)
        )
    else:
        rc = lib.bb_client_download_to_buffer(
            client, _b(api_key), _b(session_id), byref(data), byref(length), byref(err)
        )
    failure = _finish(rc, err)
    if rc != BB_OK:
        if data or length.value != _LEN_SENTINEL:
            raise AssertionError("a failed call wrote *out_data or *out_len")
        return rc, None, failure
    if not data:
        raise AssertionError("a successful call left *out_data NULL")
    try:
        content = ctypes.string_at(data, length.value)
    finally:
        lib.bb_buffer_free(data, length.value)
    return rc, content, None


def download_to_callback(session_id, on_chunk, api_key=None, client=None, user_data=None):
    """`on_chunk(user_data, bytes) -> int`. A Python exception cancels (and is
    re-raised here), rather than being printed and taken for 0 by ctypes."""
    raised = []

    def trampoline(user, data, length):
        try:
            return on_chunk(user, ctypes.string_at(data, length))
        except BaseException as e:  # noqa: BLE001 - re-raised below
            raised.append(e)
            return 1

    callback = WRITE_CALLBACK(trampoline)  # kept alive for the whole call
    err = ErrorP()
    if client is None:
        rc = lib.bb_download_session_to_callback(
            _b(api_key), _b(session_id), callback, user_data, byref(err)
        )
    else:
        rc = lib.bb_client_download_to_callback(
            client, _b(api_key), _b(session_id), callback, user_data, byref(err)
        )
    failure = _finish(rc, err)
    if raised:
        raise raised[0]
    return rc, failure


def collecting_callback(chunks):
    def on_chunk(_user, data):
        chunks.append(data)
        return 0

    return on_chunk


def new_client(
    base_url=None, api_key=API_KEY, max_retries=None, ua_suffix=None, timeout_ms=None
):
    """builder -> set_* -> bb_client_new; the builder is freed at once (the
    client must not depend on it). The caller frees the client."""
    builder = lib.bb_client_builder_new()
    if not builder:
        raise AssertionError("bb_client_builder_new returned NULL")
    try:
        settings = [
            (lib.bb_client_builder_set_base_url, _b(base_url or BASE_URL)),
            (lib.bb_client_builder_set_api_key, _b(api_key)),
        ]
        if max_retries is not None:
            settings.append((lib.bb_client_builder_set_max_retries, max_retries))
        if timeout_ms is not None:
            settings.append((lib.bb_client_builder_set_timeout_ms, timeout_ms))
        if ua_suffix is not None:
            settings.append((lib.bb_client_builder_set_user_agent_suffix, _b(ua_suffix)))
        for setter, value in settings:
            if value is None:
                continue
            err = ErrorP()
            rc = setter(builder, value, byref(err))
            failure = _finish(rc, err)
            if rc != BB_OK:
                raise AssertionError(f"{setter.__name__}: {failure!r}")
        client = ClientP()
        err = ErrorP()
        rc = lib.bb_client_new(builder, byref(client), byref(err))
        failure = _finish(rc, err)
        if rc != BB_OK:
            raise AssertionError(f"bb_client_new: {failure!r}")
        if not client:
            raise AssertionError("bb_client_new succeeded but *out is NULL")
        return client
    finally:
        lib.bb_client_builder_free(builder)


def zip_names(content):
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        bad = z.testzip()
        if bad is not None:
            raise AssertionError(f"corrupt entry {bad!r}")
        return sorted(z.namelist())


def leftovers(directory):
    """Temporary files the library may have left: `.<name>.<random>.bbpart`."""
    return sorted(
        n for n in os.listdir(directory) if n.startswith(".") and n.endswith(".bbpart")
    )


class LibTestCase(unittest.TestCase):
    demo_archive = None

    @classmethod
    def setUpClass(cls):
        if LibTestCase.demo_archive is None:
            LibTestCase.demo_archive = archive_via_urllib(DEMO_SESSION)

    def assertDemoNames(self, names):
        self.assertEqual(len(names), 2, names)
        for pattern in DEMO_NAME_PATTERNS:
            self.assertTrue(
                any(re.fullmatch(pattern, n) for n in names),
                f"no entry matching {pattern} in {names}",
            )

    def assertFailure(self, rc, failure, code, http_status=None, contains=()):
        name = lib.bb_code_name(code).decode()
        self.assertEqual(rc, code, f"expected {name}, got {failure!r}")
        self.assertIsNotNone(failure)
        if http_status is not None:
            self.assertEqual(failure.http_status, http_status, repr(failure))
        for text in contains:
            self.assertIn(text, failure.message)


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


class HeaderAndVersionTest(LibTestCase):
    def test_version_matches_header(self):
        expected = VERSION_DEFINES.get("BB_VERSION_STRING")
        self.assertIsNotNone(expected, "BB_VERSION_STRING not found in the header")
        self.assertEqual(lib.bb_version().decode("ascii"), expected)
        parts = [VERSION_DEFINES.get(f"BB_VERSION_{p}", "?") for p in ("MAJOR", "MINOR", "PATCH")]
        self.assertEqual(".".join(parts), expected)

    def test_version_number_matches_header(self):
        number = int(VERSION_DEFINES.get("BB_VERSION_NUMBER", "-1"), 0)
        major, minor, patch = (int(VERSION_DEFINES[f"BB_VERSION_{p}"]) for p in ("MAJOR", "MINOR", "PATCH"))
        self.assertEqual(number, (major << 16) | (minor << 8) | patch)
        self.assertEqual(lib.bb_version_number(), number)
        # The run-time check a binding makes: the library is at least the header.
        self.assertGreaterEqual(lib.bb_version_number(), number)

    def test_buffer_free_needs_no_len(self):
        """A binding that keeps only the pointer frees with any len: the
        library remembers each buffer's size itself."""
        for wrong in (0, 1, 2**64 - 1):
            with self.subTest(len=wrong):
                data, length, err = BufferP(), c_size_t(), ErrorP()
                rc = lib.bb_download_session_to_buffer(
                    None, _b(DEMO_SESSION), byref(data), byref(length), byref(err)
                )
                _finish(rc, err)
                self.assertEqual(rc, BB_OK)
                self.assertEqual(ctypes.string_at(data, length.value), self.demo_archive)
                lib.bb_buffer_free(data, wrong)

    def test_code_names_match_header_enum(self):
        self.assertEqual(len(set(CODES.values())), len(CODES), "duplicate values")
        for name, value in CODES.items():
            with self.subTest(name=name):
                self.assertEqual(lib.bb_code_name(value).decode(), name)
        for value in (-1, max(CODES.values()) + 1, 1000):
            self.assertEqual(lib.bb_code_name(value), b"BB_UNKNOWN_CODE")

    def test_released_abi_values_never_change(self):
        # "The numeric values are part of the ABI and never change once
        # released; new codes get new numbers": new names may appear, these
        # may not move.
        released = {
            "BB_OK": 0,
            "BB_ERR_INVALID_ARGUMENT": 1,
            "BB_ERR_AUTHENTICATION": 2,
            "BB_ERR_PERMISSION_DENIED": 3,
            "BB_ERR_NOT_FOUND": 4,
            "BB_ERR_RATE_LIMITED": 5,
            "BB_ERR_SERVER": 6,
            "BB_ERR_HTTP": 7,
            "BB_ERR_CONNECTION": 8,
            "BB_ERR_TIMEOUT": 9,
            "BB_ERR_IO": 10,
            "BB_ERR_INVALID_ARCHIVE": 11,
            "BB_ERR_CANCELLED": 12,
            "BB_ERR_NOT_READY": 13,
            "BB_ERR_INTERNAL": 14,
        }
        for name, value in released.items():
            self.assertEqual(CODES.get(name), value, name)

    def test_null_is_fine_everywhere_documented(self):
        self.assertEqual(lib.bb_error_code(None), BB_OK)
        self.assertEqual(lib.bb_error_http_status(None), 0)
        self.assertEqual(lib.bb_error_message(None), b"")
        lib.bb_error_free(None)
        lib.bb_buffer_free(None, 0)
        lib.bb_client_free(None)
        lib.bb_client_builder_free(None)

    def test_err_may_be_null(self):
        rc = lib.bb_download_session_to_buffer(
            None, _b(UNKNOWN_SESSION), byref(BufferP()), byref(c_size_t()), None
        )
        self.assertEqual(rc, BB_ERR_NOT_FOUND)


class DefaultClientTest(LibTestCase):
    def test_download_to_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "downloads.zip")
            rc, failure = download_to_file(DEMO_SESSION, path)
            self.assertEqual(rc, BB_OK, repr(failure))
            with zipfile.ZipFile(path) as z:
                self.assertIsNone(z.testzip())
                self.assertDemoNames(z.namelist())
            with open(path, "rb") as f:
                self.assertEqual(f.read(), self.demo_archive)
            self.assertEqual(os.listdir(d), ["downloads.zip"])
            # Like any new file: 0666 less the umask (not the 0600 of a temp file).
            umask = os.umask(0o022)
            os.umask(umask)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o666 & ~umask)

    def test_download_to_file_replaces_existing_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "downloads.zip")
            with open(path, "wb") as f:
                f.write(b"old content")
            rc, failure = download_to_file(DEMO_SESSION, path)
            self.assertEqual(rc, BB_OK, repr(failure))
            with open(path, "rb") as f:
                self.assertEqual(f.read(), self.demo_archive)
            self.assertEqual(leftovers(d), [])

    def test_download_to_non_utf8_path(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.fsencode(d) + b"/\xff\xfe-downloads.zip"
            rc, failure = download_to_file(DEMO_SESSION, path)
            self.assertEqual(rc, BB_OK, repr(failure))
            with open(path, "rb") as f:
                self.assertEqual(f.read(), self.demo_archive)

    def test_download_to_buffer(self):
        rc, content, failure = download_to_buffer(DEMO_SESSION)
        self.assertEqual(rc, BB_OK, repr(failure))
        self.assertEqual(content, self.demo_archive)
        self.assertDemoNames(zip_names(content))

    def test_download_to_callback(self):
        chunks, users = [], []

        def on_chunk(user, data):
            users.append(user)
            chunks.append(data)
            return 0

        rc, failure = download_to_callback(
            DEMO_SESSION, on_chunk, user_data=c_void_p(0x5EED)
        )
        self.assertEqual(rc, BB_OK, repr(failure))
        self.assertEqual(b"".join(chunks), self.demo_archive)
        self.assertTrue(chunks and all(chunks), "no chunk, or an empty one")
        self.assertEqual(set(users), {0x5EED}, "user_data not passed through")

    def test_callback_returning_nonzero_cancels(self):
        calls = []

        def on_chunk(_user, data):
            calls.append(len(data))
            return 1

        before = request_count()
        rc, failure = download_to_callback(DEMO_SESSION, on_chunk)
        self.assertFailure(rc, failure, BB_ERR_CANCELLED)
        self.assertEqual(len(calls), 1, "the callback was called again after cancelling")
        self.assertEqual(request_count() - before, 1, "a cancelled download was retried")

    def test_empty_session_is_the_22_byte_archive(self):
        rc, content, failure = download_to_buffer(EMPTY_SESSION)
        self.assertEqual(rc, BB_OK, repr(failure))
        self.assertEqual(content, EMPTY_ZIP)
        self.assertEqual(len(content), 22)
        self.assertEqual(zip_names(content), [])
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "empty.zip")
            rc, failure = download_to_file(EMPTY_SESSION, path)
            self.assertEqual(rc, BB_OK, repr(failure))
            self.assertEqual(os.path.getsize(path), 22)
        chunks = []
        rc, failure = download_to_callback(EMPTY_SESSION, collecting_callback(chunks))
        self.assertEqual(rc, BB_OK, repr(failure))
        self.assertEqual(b"".join(chunks), EMPTY_ZIP)

    def test_unknown_session_is_not_found(self):
        expect = dict(code=BB_ERR_NOT_FOUND, http_status=404, contains=["Session not found"])
        with self.subTest(sink="buffer"):
            rc, content, failure = download_to_buffer(UNKNOWN_SESSION)
            self.assertFailure(rc, failure, **expect)
        with self.subTest(sink="callback"):
            chunks = []
            rc, failure = download_to_callback(UNKNOWN_SESSION, collecting_callback(chunks))
            self.assertFailure(rc, failure, **expect)
            self.assertEqual(chunks, [], "the callback saw an error body")
        with self.subTest(sink="file"), tempfile.TemporaryDirectory() as d:
            rc, failure = download_to_file(UNKNOWN_SESSION, os.path.join(d, "x.zip"))
            self.assertFailure(rc, failure, **expect)
            self.assertEqual(os.listdir(d), [])

    def test_wrong_key_is_authentication_and_not_echoed(self):
        key = "bb_live_Wr0ngKeyThatMustNotLeak1234"
        with self.subTest(sink="buffer"):
            rc, content, failure = download_to_buffer(DEMO_SESSION, api_key=key)
            self.assertFailure(rc, failure, BB_ERR_AUTHENTICATION, http_status=401)
            self.assertNotIn(key, failure.message)
        with self.subTest(sink="file"), tempfile.TemporaryDirectory() as d:
            rc, failure = download_to_file(DEMO_SESSION, os.path.join(d, "x.zip"), api_key=key)
            self.assertFailure(rc, failure, BB_ERR_AUTHENTICATION, http_status=401)
            self.assertNotIn(key, failure.message)
            self.assertEqual(os.listdir(d), [])

    # (api_key, session_id, the argument the message must name)
    BAD_ARGUMENTS = [
        ("NULL session id", None, None, "session_id"),
        ("empty session id", None, b"", "session_id"),
        ("LF in session id", None, b"abc\ndef", "session_id"),
        ("CR in session id", None, b"abc\rdef", "session_id"),
        ("non-UTF-8 session id", None, b"\xff\xfe", "session_id"),
        ("header injection in key", b"bb_test_key\r\nX: y", DEMO_SESSION.encode(), "api_key"),
        ("non-UTF-8 key", b"\xff\xfe", DEMO_SESSION.encode(), "api_key"),
        ("empty key", b"", DEMO_SESSION.encode(), "api_key"),
    ]

    def test_bad_arguments_are_rejected_before_sending(self):
        before = request_count()
        for label, key, session_id, argument in self.BAD_ARGUMENTS:
            with self.subTest(label, sink="buffer"):
                rc, content, failure = download_to_buffer(session_id, api_key=key)
                self.assertFailure(rc, failure, BB_ERR_INVALID_ARGUMENT, 0, [argument])
                self.assertNotIn("X: y", failure.message)
            with self.subTest(label, sink="callback"):
                chunks = []
                rc, failure = download_to_callback(
                    session_id, collecting_callback(chunks), api_key=key
                )
                self.assertFailure(rc, failure, BB_ERR_INVALID_ARGUMENT, 0, [argument])
                self.assertEqual(chunks, [])
            with self.subTest(label, sink="file"), tempfile.TemporaryDirectory() as d:
                rc, failure = download_to_file(session_id, os.path.join(d, "x.zip"), api_key=key)
                self.assertFailure(rc, failure, BB_ERR_INVALID_ARGUMENT, 0, [argument])
                self.assertEqual(os.listdir(d), [], "a bad argument touched the directory")
        self.assertEqual(request_count(), before, "a request was sent for a bad argument")

    def test_bad_outputs_are_rejected_before_sending(self):
        before = request_count()
        demo = DEMO_SESSION.encode()
        cases = [
            ("path NULL", "path", lambda e: lib.bb_download_session(None, demo, None, e)),
            ("path empty", "path", lambda e: lib.bb_download_session(None, demo, b"", e)),
            (
                "out_data NULL",
                "out_data",
                lambda e: lib.bb_download_session_to_buffer(
                    None, demo, None, byref(c_size_t()), e
                ),
            ),
            (
                "out_len NULL",
                "out_len",
                lambda e: lib.bb_download_session_to_buffer(
                    None, demo, byref(BufferP()), None, e
                ),
            ),
            (
                "write NULL",
                "write",
                lambda e: lib.bb_download_session_to_callback(
                    None, demo, WRITE_CALLBACK(), None, e
                ),
            ),
            (
                "client NULL",
                "client",
                lambda e: lib.bb_client_download_to_buffer(
                    None, None, demo, byref(BufferP()), byref(c_size_t()), e
                ),
            ),
        ]
        for label, argument, call in cases:
            with self.subTest(label):
                err = ErrorP()
                rc = call(byref(err))
                failure = _finish(rc, err)
                self.assertFailure(rc, failure, BB_ERR_INVALID_ARGUMENT, 0, [argument])
        self.assertEqual(request_count(), before, "a request was sent for a bad argument")

    def test_failed_download_leaves_existing_file_untouched(self):
        # A ZIP whose leading signature is right but which is cut short: it
        # goes all the way into the temporary file before the check fails.
        truncated = new_session("truncated")
        control("PUT", f"sessions/{truncated}/archive", self.demo_archive[:200])
        # A body cut mid-way by the server, with retries off so it stays cut.
        cut = new_session("cut")
        control("PUT", f"sessions/{cut}/files/report.pdf", os.urandom(64 * 1024))
        control("POST", f"sessions/{cut}/script", b"cut 1000\n")
        client = new_client(max_retries=0)
        try:
            cases = [
                ("not found", UNKNOWN_SESSION, None, None, BB_ERR_NOT_FOUND),
                ("wrong key", DEMO_SESSION, "bb_wrong", None, BB_ERR_AUTHENTICATION),
                ("truncated archive", truncated, None, None, BB_ERR_INVALID_ARCHIVE),
                ("body cut short", cut, None, client, BB_ERR_CONNECTION),
            ]
            for label, session_id, key, via, code in cases:
                with self.subTest(label), tempfile.TemporaryDirectory() as d:
                    path = os.path.join(d, "downloads.zip")
                    with open(path, "wb") as f:
                        f.write(b"precious")
                    mtime = os.stat(path).st_mtime_ns
                    rc, failure = download_to_file(session_id, path, api_key=key, client=via)
                    self.assertFailure(rc, failure, code)
                    with open(path, "rb") as f:
                        self.assertEqual(f.read(), b"precious")
                    self.assertEqual(os.stat(path).st_mtime_ns, mtime)
                    self.assertEqual(leftovers(d), [])
                    self.assertEqual(os.listdir(d), ["downloads.zip"])
        finally:
            lib.bb_client_free(client)

    def test_body_cut_short_is_retried_unless_handed_to_callback(self):
        session = new_session("retry")
        control("PUT", f"sessions/{session}/files/big.bin", os.urandom(256 * 1024))
        archive = archive_via_urllib(session)
        script = b"cut 100000\nok\n"  # first attempt cut mid-body, then whole

        with self.subTest(sink="buffer"):
            control("POST", f"sessions/{session}/script", script)
            before = request_count()
            rc, content, failure = download_to_buffer(session)
            self.assertEqual(rc, BB_OK, repr(failure))
            self.assertEqual(content, archive, "the retry did not start over")
            self.assertEqual(request_count() - before, 2)
        with self.subTest(sink="file"), tempfile.TemporaryDirectory() as d:
            control("POST", f"sessions/{session}/script", script)
            path = os.path.join(d, "downloads.zip")
            rc, failure = download_to_file(session, path)
            self.assertEqual(rc, BB_OK, repr(failure))
            with open(path, "rb") as f:
                self.assertEqual(f.read(), archive, "the retry did not start over")
            self.assertEqual(os.listdir(d), ["downloads.zip"])
        with self.subTest(sink="callback, resumed"):
            control("POST", f"sessions/{session}/script", script)
            before = request_count()
            chunks = []
            rc, failure = download_to_callback(session, collecting_callback(chunks))
            self.assertEqual(rc, BB_OK, repr(failure))
            self.assertEqual(b"".join(chunks), archive, "a byte was handed over twice")
            self.assertEqual(request_count() - before, 2)
            resumed = [e for e in request_log().split("\n\n") if e.strip()][-1]
            self.assertIn("\nrange: bytes=100000-\n", resumed.lower())
        with self.subTest(sink="callback, no ranges"):
            control("POST", f"sessions/{session}/ranges", b"off")
            control("POST", f"sessions/{session}/script", script)
            before = request_count()
            chunks = []
            rc, failure = download_to_callback(session, collecting_callback(chunks))
            self.assertFailure(rc, failure, BB_ERR_CONNECTION, 0)
            self.assertEqual(request_count() - before, 1, "retried after handing bytes over")
            self.assertEqual(b"".join(chunks), archive[:100000])
            control("POST", f"sessions/{session}/script", b"")
            control("POST", f"sessions/{session}/ranges", b"on")

    def test_request_on_the_wire(self):
        control("DELETE", "requests")
        rc, content, failure = download_to_buffer(DEMO_SESSION)
        self.assertEqual(rc, BB_OK, repr(failure))
        entries = [e for e in request_log().split("\n\n") if e.strip()]
        self.assertEqual(len(entries), 1, entries)
        lines = entries[0].split("\n")
        self.assertEqual(lines[0], f"GET /v1/sessions/{DEMO_SESSION}/downloads HTTP/1.1")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.assertEqual(headers.get("x-bb-api-key"), API_KEY)
        self.assertEqual(headers.get("accept"), "application/zip")
        self.assertEqual(
            headers.get("user-agent"), "browserbase-c/" + lib.bb_version().decode()
        )

    def test_session_id_is_one_path_segment(self):
        control("DELETE", "requests")
        rc, content, failure = download_to_buffer("../../a b/?#%")
        self.assertFailure(rc, failure, BB_ERR_NOT_FOUND, 404)
        first_line = request_log().split("\n", 1)[0]
        self.assertEqual(
            first_line, "GET /v1/sessions/..%2F..%2Fa%20b%2F%3F%23%25/downloads HTTP/1.1"
        )


class ClientHandleTest(LibTestCase):
    def test_builder_then_client_download(self):
        client = new_client(base_url=BASE_URL, api_key=API_KEY)
        try:
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "downloads.zip")
                rc, failure = download_to_file(DEMO_SESSION, path, client=client)
                self.assertEqual(rc, BB_OK, repr(failure))
                with zipfile.ZipFile(path) as z:
                    self.assertDemoNames(z.namelist())
                with open(path, "rb") as f:
                    self.assertEqual(f.read(), self.demo_archive)
                self.assertEqual(os.listdir(d), ["downloads.zip"])
            rc, content, failure = download_to_buffer(DEMO_SESSION, client=client)
            self.assertEqual(rc, BB_OK, repr(failure))
            self.assertEqual(content, self.demo_archive)
            chunks = []
            rc, failure = download_to_callback(
                DEMO_SESSION, collecting_callback(chunks), client=client
            )
            self.assertEqual(rc, BB_OK, repr(failure))
            self.assertEqual(b"".join(chunks), self.demo_archive)
        finally:
            lib.bb_client_free(client)

    def test_client_key_is_preferred_over_environment(self):
        # The environment's key is right; the client's is wrong and must win.
        client = new_client(api_key="bb_client_key_wrong")
        try:
            rc, content, failure = download_to_buffer(DEMO_SESSION, client=client)
            self.assertFailure(rc, failure, BB_ERR_AUTHENTICATION, 401)
            self.assertNotIn("bb_client_key_wrong", failure.message)
            # An explicit key beats the client's.
            rc, content, failure = download_to_buffer(
                DEMO_SESSION, api_key=API_KEY, client=client
            )
            self.assertEqual(rc, BB_OK, repr(failure))
            self.assertEqual(content, self.demo_archive)
        finally:
            lib.bb_client_free(client)

    def test_user_agent_suffix(self):
        client = new_client(ua_suffix="ctypes-test/1.0")
        try:
            control("DELETE", "requests")
            rc, content, failure = download_to_buffer(EMPTY_SESSION, client=client)
            self.assertEqual(rc, BB_OK, repr(failure))
            ua = re.search(r"(?im)^user-agent:\s*(.*)$", request_log())
            self.assertIsNotNone(ua)
            self.assertEqual(
                ua.group(1).strip(),
                f"browserbase-c/{lib.bb_version().decode()} ctypes-test/1.0",
            )
        finally:
            lib.bb_client_free(client)

    def test_timeout(self):
        session = new_session("stall")
        control("PUT", f"sessions/{session}/files/a.txt", b"late\n")
        control("POST", f"sessions/{session}/script", b"stall-headers 5000\n")
        client = new_client(max_retries=0, timeout_ms=200)
        try:
            began = time.monotonic()
            rc, content, failure = download_to_buffer(session, client=client)
            elapsed = time.monotonic() - began
        finally:
            lib.bb_client_free(client)
        self.assertFailure(rc, failure, BB_ERR_TIMEOUT, 0)
        self.assertLess(elapsed, 3.0, "the 200 ms timeout was not applied")

    def test_builder_rejects_bad_settings(self):
        builder = lib.bb_client_builder_new()
        try:
            cases = [
                ("plain http off loopback", lib.bb_client_builder_set_base_url,
                 b"http://example.com", "url"),
                ("NULL url", lib.bb_client_builder_set_base_url, None, "url"),
                ("CR LF in key", lib.bb_client_builder_set_api_key,
                 b"k\r\nX: y", "api_key"),
                ("NULL key", lib.bb_client_builder_set_api_key, None, "api_key"),
                ("too many retries", lib.bb_client_builder_set_max_retries, 101, "retries"),
            ]
            for label, setter, value, argument in cases:
                with self.subTest(label):
                    err = ErrorP()
                    rc = setter(builder, value, byref(err))
                    failure = _finish(rc, err)
                    self.assertFailure(rc, failure, BB_ERR_INVALID_ARGUMENT, 0)
                    self.assertIn(argument, failure.message.lower())
            err = ErrorP()
            rc = lib.bb_client_new(builder, None, byref(err))
            self.assertFailure(rc, _finish(rc, err), BB_ERR_INVALID_ARGUMENT, 0, ["out"])
        finally:
            lib.bb_client_builder_free(builder)


class ThreadsTest(LibTestCase):
    THREADS = 4
    PER_THREAD = 5

    def run_threads(self, client=None):
        results, errors = [], []
        lock = threading.Lock()
        start = threading.Barrier(self.THREADS)

        def worker():
            try:
                start.wait(10)
                for _ in range(self.PER_THREAD):
                    rc, content, failure = download_to_buffer(DEMO_SESSION, client=client)
                    with lock:
                        results.append((rc, content, failure))
            except BaseException as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(self.THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads), "a download thread hung")
        self.assertEqual(errors, [])
        self.assertEqual(len(results), self.THREADS * self.PER_THREAD)
        for rc, content, failure in results:
            self.assertEqual(rc, BB_OK, repr(failure))
            self.assertEqual(content, self.demo_archive)

    def test_default_client_from_threads(self):
        self.run_threads()

    def test_shared_client_from_threads(self):
        client = new_client()
        try:
            self.run_threads(client)
        finally:
            lib.bb_client_free(client)

    def test_calls_really_run_in_parallel(self):
        # Each request is held 400 ms by the server before it answers. Four
        # downloads in four threads take ~0.4 s if the GIL is released and the
        # library does not serialize calls, >= 1.6 s otherwise.
        stall_ms = 400
        session = new_session("parallel")
        control("PUT", f"sessions/{session}/files/a.txt", b"parallel\n")
        control(
            "POST",
            f"sessions/{session}/script",
            f"stall-headers {stall_ms}\n".encode() * self.THREADS,
        )
        results = []
        start = threading.Barrier(self.THREADS + 1)

        def worker():
            start.wait(10)
            results.append(download_to_buffer(session)[:2])

        threads = [threading.Thread(target=worker) for _ in range(self.THREADS)]
        for t in threads:
            t.start()
        start.wait(10)
        began = time.monotonic()
        for t in threads:
            t.join(30)
        elapsed = time.monotonic() - began
        self.assertEqual([rc for rc, _ in results], [BB_OK] * self.THREADS)
        self.assertEqual(len({content for _, content in results}), 1)
        self.assertLess(
            elapsed,
            self.THREADS * stall_ms / 1000 * 0.75,
            f"{self.THREADS} stalled downloads took {elapsed:.2f} s: serialized?",
        )


if __name__ == "__main__":
    unittest.main()
