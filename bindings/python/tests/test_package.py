"""Tests of the browserbase_c package against the real libbrowserbase.so and a
`bb-stand-in-server --demo` that this module starts on loopback and stops.

Standard library only; the package is imported from bindings/python/ (no
installation needed). From the repository root, after `cargo build`:

    python3 -m unittest discover -s bindings/python/tests -t bindings/python -v

Locations can be overridden with BROWSERBASE_C_LIBRARY (the .so the package
loads) and BB_STAND_IN_SERVER (the server binary); the defaults are the debug
build in <repo>/target/debug/.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import gc
import io
import logging
import os
import pathlib
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import uuid
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)  # bindings/python
REPO = os.path.dirname(os.path.dirname(PKG_ROOT))

# The package under test is the one in this tree, never an installed copy;
# the stand-in server fixture is the one every Python suite shares.
sys.path.insert(0, PKG_ROOT)
sys.path.insert(0, os.path.join(REPO, "tests", "python"))
import browserbase_c as bb  # noqa: E402
from browserbase_c import _errors  # noqa: E402
import standin  # noqa: E402
from standin import (  # noqa: E402
    API_KEY,
    DEMO_SESSION,
    EMPTY_SESSION,
    HEADER,
    UNKNOWN_SESSION,
    closed_port,
    control,
    new_session,
    requests_for,
    script,
    served_archive,
    zip_names,
)

LIBRARY = os.environ.get("BROWSERBASE_C_LIBRARY") or os.path.join(
    standin.DEBUG_DIR, "libbrowserbase.so"
)
DEMO_PDF_MS = 1_719_265_797_164

# ---------------------------------------------------------------------------
# Module fixture: the stand-in server, the environment (tests/python/standin.py)
# ---------------------------------------------------------------------------

BASE_URL = None


def setUpModule():
    global BASE_URL
    standin.require("the library", LIBRARY, "BROWSERBASE_C_LIBRARY")
    BASE_URL = standin.start()
    # The library's default client reads BROWSERBASE_* once, when first used
    # (the package loads the library lazily, so nothing has used it yet).
    standin.set_environment(
        {
            "BROWSERBASE_C_LIBRARY": LIBRARY,
            "BROWSERBASE_BASE_URL": BASE_URL,
            "BROWSERBASE_API_KEY": API_KEY,
        }
    )


def tearDownModule():
    standin.stop()


def quick_client(**settings):
    """A client that fails fast: no retries, a short timeout."""
    settings.setdefault("max_retries", 0)
    settings.setdefault("timeout", 2.0)
    return bb.Client(**settings)


class TempDirTestCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="bb-py-")
        self.tmp = pathlib.Path(self._tmp.name)

    def tearDown(self):
        self._tmp.cleanup()


# ---------------------------------------------------------------------------
# The package itself
# ---------------------------------------------------------------------------


class PackageTest(unittest.TestCase):
    def test_imported_from_this_tree_without_installing(self):
        self.assertEqual(
            os.path.dirname(os.path.dirname(os.path.abspath(bb.__file__))),
            PKG_ROOT,
        )

    def test_version_and_library_path(self):
        with open(HEADER, encoding="utf-8") as f:
            header_version = re.search(
                r'#define BB_VERSION_STRING "([^"]+)"', f.read()
            ).group(1)
        self.assertEqual(bb.version(), header_version)
        self.assertEqual(bb.__version__, header_version)
        self.assertEqual(
            os.path.realpath(bb.library_path()), os.path.realpath(LIBRARY)
        )

    def test_codes_match_the_header(self):
        with open(HEADER, encoding="utf-8") as f:
            enum = re.search(
                r"typedef enum bb_code \{(.*?)\} bb_code;", f.read(), re.S
            ).group(1)
        header = {
            name: int(value)
            for name, value in re.findall(r"^\s*(BB_[A-Z_]+)\s*=\s*(\d+)", enum, re.M)
        }
        self.assertEqual({c.name: c.value for c in bb.Code}, header)

    def test_public_names(self):
        for name in bb.__all__:
            self.assertTrue(hasattr(bb, name), name)

    def test_entry_struct_is_the_header_s_extensible_struct(self):
        from browserbase_c import _native

        entry = _native.BbArchiveEntry()
        # x86-64 LP64, as tests/c/test_abi.c.
        self.assertEqual(ctypes.sizeof(entry), 48)
        self.assertEqual(entry.struct_size, 48)
        self.assertEqual(_native.BbArchiveEntry.struct_size.offset, 0)
        self.assertEqual(_native.BbArchiveEntry.name.offset, 8)
        self.assertEqual(_native.BbArchiveEntry.download_time_ms.offset, 40)
        # And the library fills it.
        with bb.Archive.open(bb.download_bytes(DEMO_SESSION)) as archive:
            self.assertEqual(len(list(archive)), 2)

    def test_version_number_matches_the_header_and_old_libraries_are_refused(self):
        from browserbase_c import _native

        with open(HEADER, encoding="utf-8") as f:
            number = int(
                re.search(r"#define BB_VERSION_NUMBER (0x[0-9a-f]+)", f.read()).group(1), 16
            )
        lib = _native.load()
        self.assertEqual(lib.bb_version_number(), number)
        self.assertGreaterEqual(number, _native.MIN_LIBRARY_VERSION)

        class OldLibrary:
            """Answers like a library older than the package needs."""

            def __init__(self):
                for name in _native.PROTOTYPES:
                    setattr(self, name, lambda *args: None)
                self.bb_version_number = lambda: _native.MIN_LIBRARY_VERSION - 1
                self.bb_version = lambda: b"0.0.255"

        with self.assertRaisesRegex(OSError, r"0\.0\.255 is older than"):
            _native._declare(OldLibrary())


# ---------------------------------------------------------------------------
# Downloads through the default client
# ---------------------------------------------------------------------------


class DefaultClientTest(TempDirTestCase):
    def test_download_to_str_path(self):
        out = str(self.tmp / "out.zip")
        self.assertIsNone(bb.download(DEMO_SESSION, out))
        with open(out, "rb") as f:
            self.assertEqual(f.read(), served_archive(DEMO_SESSION))

    def test_download_to_pathlike_and_bytes_path(self):
        bb.download(DEMO_SESSION, self.tmp / "a.zip")
        self.assertEqual(len(zip_names((self.tmp / "a.zip").read_bytes())), 2)
        raw = os.fsencode(self.tmp) + b"/caf\xe9-not-utf8.zip"
        bb.download(DEMO_SESSION, raw)
        self.assertTrue(os.path.exists(raw))

    def test_download_bytes(self):
        data = bb.download_bytes(DEMO_SESSION)
        self.assertIsInstance(data, bytes)
        self.assertEqual(data, served_archive(DEMO_SESSION))
        self.assertEqual(bb.download_bytes(EMPTY_SESSION), b"PK\x05\x06" + b"\0" * 18)

    def test_download_to_callable_and_file(self):
        chunks = []
        total = bb.download_to(DEMO_SESSION, chunks.append)
        self.assertEqual(b"".join(chunks), served_archive(DEMO_SESSION))
        self.assertEqual(total, len(b"".join(chunks)))
        sink = io.BytesIO()
        self.assertEqual(bb.download_to(DEMO_SESSION, sink), total)
        self.assertEqual(sink.getvalue(), b"".join(chunks))

    def test_sink_exception_cancels_and_propagates(self):
        class Stop(Exception):
            pass

        calls = []

        def sink(chunk):
            calls.append(len(chunk))
            raise Stop("enough")

        session = new_session("sink", {"a.txt": b"a" * 100_000})
        with self.assertRaises(Stop) as caught:
            bb.download_to(session, sink)
        self.assertEqual(str(caught.exception), "enough")
        self.assertEqual(len(calls), 1, "the download went on after the exception")
        self.assertEqual(len(requests_for(session)), 1, "the cancelled download was retried")

    def test_sink_returning_false_cancels(self):
        with self.assertRaises(bb.CancelledError) as caught:
            bb.download_to(DEMO_SESSION, lambda chunk: False)
        self.assertEqual(caught.exception.code, "BB_ERR_CANCELLED")

    def test_bad_sink_is_a_type_error(self):
        with self.assertRaises(TypeError):
            bb.download_to(DEMO_SESSION, 42)

    def test_per_call_api_key(self):
        with self.assertRaises(bb.AuthenticationError) as caught:
            bb.download_bytes(DEMO_SESSION, api_key="wrong-key")
        self.assertNotIn("wrong-key", str(caught.exception))
        self.assertEqual(bb.download_bytes(DEMO_SESSION, api_key=API_KEY)[:2], b"PK")

    def test_bad_arguments_raise_before_sending(self):
        session = new_session("badargs")
        with self.assertRaises(bb.InvalidArgumentError):
            bb.download_bytes(session + "\x00x")
        with self.assertRaises(bb.InvalidArgumentError):
            bb.download_bytes("")  # the library's own check
        with self.assertRaises(bb.InvalidArgumentError):
            bb.download_bytes(session, api_key="a\nb")
        with self.assertRaises(bb.InvalidArgumentError):
            bb.download(session, str(self.tmp / "a\x00b.zip"))
        with self.assertRaises(bb.InvalidArgumentError):
            bb.download_bytes("\ud800")  # not encodable as UTF-8
        with self.assertRaises(TypeError):
            bb.download_bytes(b"bytes-id")
        with self.assertRaises(TypeError):
            bb.download(session, 3.5)
        self.assertEqual(requests_for(session), [])
        self.assertEqual(os.listdir(self.tmp), [])


# ---------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------


class ExceptionTest(TempDirTestCase):
    def assertRaisesMapped(self, cls, steps=(), session=None, status=None, code=None,
                           client=None):
        session = session or new_session("err", {"a.txt": b"a"})
        if steps:
            script(session, *steps)
        client = client or quick_client()
        with client, self.assertRaises(cls) as caught:
            client.download_bytes(session)
        e = caught.exception
        self.assertIs(type(e), cls, repr(e))
        self.assertIsInstance(e, bb.BrowserbaseError)
        if status is not None:
            self.assertEqual(e.http_status, status, repr(e))
            self.assertEqual(e.status_code, status, repr(e))
        if code is not None:
            self.assertEqual(e.code, code, repr(e))
            self.assertEqual(e.code_value, bb.Code[code].value)
        self.assertTrue(str(e), "an empty message")
        self.assertEqual(str(e), e.message)
        return e

    def test_status_codes(self):
        cases = [
            (400, bb.BadRequestError, "BB_ERR_HTTP"),
            (403, bb.PermissionDeniedError, "BB_ERR_PERMISSION_DENIED"),
            (409, bb.ConflictError, "BB_ERR_HTTP"),
            (422, bb.UnprocessableEntityError, "BB_ERR_HTTP"),
            (429, bb.RateLimitError, "BB_ERR_RATE_LIMITED"),
            (500, bb.InternalServerError, "BB_ERR_SERVER"),
            (503, bb.InternalServerError, "BB_ERR_SERVER"),
            (418, bb.APIStatusError, "BB_ERR_HTTP"),
        ]
        for status, cls, code in cases:
            with self.subTest(status=status):
                e = self.assertRaisesMapped(
                    cls, [f"status {status}"], status=status, code=code
                )
                self.assertIsInstance(e, bb.APIStatusError)
                self.assertIsInstance(e, bb.APIError)
                self.assertIsNone(e.body)

    def test_not_found_and_authentication(self):
        self.assertRaisesMapped(
            bb.NotFoundError, session=UNKNOWN_SESSION, status=404, code="BB_ERR_NOT_FOUND"
        )
        self.assertRaisesMapped(
            bb.AuthenticationError,
            session=DEMO_SESSION,
            client=quick_client(api_key="not-the-key"),
            status=401,
            code="BB_ERR_AUTHENTICATION",
        )

    def test_connection_timeout_and_archive(self):
        e = self.assertRaisesMapped(bb.APIConnectionError, ["reset"], code="BB_ERR_CONNECTION")
        self.assertEqual(e.http_status, 0)
        e = self.assertRaisesMapped(
            bb.APITimeoutError,
            ["stall-headers 3000"],
            client=quick_client(timeout=0.3),
            code="BB_ERR_TIMEOUT",
        )
        self.assertIsInstance(e, bb.APIConnectionError)
        self.assertRaisesMapped(bb.InvalidArchiveError, ["html"], code="BB_ERR_INVALID_ARCHIVE")

    def test_local_io_error_is_an_os_error(self):
        with self.assertRaises(OSError) as caught:
            bb.download(DEMO_SESSION, self.tmp / "missing-dir" / "out.zip")
        e = caught.exception
        self.assertIsInstance(e, bb.LocalIOError)
        self.assertEqual(e.code, "BB_ERR_IO")
        self.assertIn("missing-dir", str(e))
        self.assertIsNone(e.errno)

    def test_invalid_argument_is_a_value_error(self):
        with self.assertRaises(ValueError) as caught:
            bb.Client(base_url="http://example.com")
        self.assertIsInstance(caught.exception, bb.InvalidArgumentError)
        self.assertEqual(caught.exception.code, "BB_ERR_INVALID_ARGUMENT")

    def test_not_ready_is_a_timeout_error(self):
        with self.assertRaises(TimeoutError) as caught:
            bb.wait_for_downloads(EMPTY_SESSION, timeout=0)
        self.assertIsInstance(caught.exception, bb.NotReadyError)
        self.assertEqual(caught.exception.code, "BB_ERR_NOT_READY")

    def test_hierarchy_mirrors_the_official_sdk(self):
        for cls in (
            bb.BadRequestError,
            bb.AuthenticationError,
            bb.PermissionDeniedError,
            bb.NotFoundError,
            bb.ConflictError,
            bb.UnprocessableEntityError,
            bb.RateLimitError,
            bb.InternalServerError,
        ):
            self.assertTrue(issubclass(cls, bb.APIStatusError), cls)
        self.assertTrue(issubclass(bb.APIStatusError, bb.APIError))
        self.assertTrue(issubclass(bb.APITimeoutError, bb.APIConnectionError))
        self.assertTrue(issubclass(bb.APIConnectionError, bb.APIError))
        self.assertTrue(issubclass(bb.APIError, bb.BrowserbaseError))
        for cls in (
            bb.InvalidArgumentError,
            bb.LocalIOError,
            bb.InvalidArchiveError,
            bb.CancelledError,
            bb.NotReadyError,
            bb.InternalError,
            bb.LibraryNotFoundError,
        ):
            self.assertTrue(issubclass(cls, bb.BrowserbaseError), cls)
            self.assertFalse(issubclass(cls, bb.APIError), cls)

    def test_every_code_maps_to_a_class(self):
        expected = {
            "BB_ERR_INVALID_ARGUMENT": bb.InvalidArgumentError,
            "BB_ERR_AUTHENTICATION": bb.AuthenticationError,
            "BB_ERR_PERMISSION_DENIED": bb.PermissionDeniedError,
            "BB_ERR_NOT_FOUND": bb.NotFoundError,
            "BB_ERR_RATE_LIMITED": bb.RateLimitError,
            "BB_ERR_SERVER": bb.InternalServerError,
            "BB_ERR_HTTP": bb.APIStatusError,
            "BB_ERR_CONNECTION": bb.APIConnectionError,
            "BB_ERR_TIMEOUT": bb.APITimeoutError,
            "BB_ERR_IO": bb.LocalIOError,
            "BB_ERR_INVALID_ARCHIVE": bb.InvalidArchiveError,
            "BB_ERR_CANCELLED": bb.CancelledError,
            "BB_ERR_NOT_READY": bb.NotReadyError,
            "BB_ERR_INTERNAL": bb.InternalError,
        }
        for code in bb.Code:
            if code is bb.Code.BB_OK:
                continue
            with self.subTest(code=code.name):
                e = _errors.make_error(code, 0, "m")
                self.assertIs(type(e), expected[code.name])
                self.assertEqual((e.code, e.code_value), (code.name, code.value))
        self.assertIs(type(_errors.make_error(99, 0, "m")), bb.InternalError)
        self.assertEqual(_errors.make_error(99, 0, "m").code, "BB_UNKNOWN_CODE")

    def test_exceptions_pickle_and_repr(self):
        for e in (
            _errors.make_error(4, 404, "HTTP 404: gone"),
            _errors.make_error(10, 0, "disk full"),
            _errors.make_error(13, 0, "not ready"),
            _errors.make_error(1, 0, "bad"),
        ):
            copy = pickle.loads(pickle.dumps(e))
            self.assertIs(type(copy), type(e))
            self.assertEqual(
                (copy.message, copy.code, copy.http_status),
                (e.message, e.code, e.http_status),
            )
            self.assertIn(e.code, repr(e))
        # Constructible by hand, as ported code and tests do.
        e = bb.NotFoundError("no such session", http_status=404)
        self.assertEqual((e.code, e.status_code), ("BB_ERR_NOT_FOUND", 404))
        self.assertEqual(bb.LocalIOError("x").code, "BB_ERR_IO")


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------


class ClientTest(TempDirTestCase):
    def test_context_manager_closes(self):
        with bb.Client() as client:
            self.assertFalse(client.closed)
            client.download(DEMO_SESSION, self.tmp / "out.zip")
            self.assertEqual(
                client.download_bytes(DEMO_SESSION), (self.tmp / "out.zip").read_bytes()
            )
        self.assertTrue(client.closed)
        with self.assertRaises(bb.InvalidArgumentError):
            client.download_bytes(DEMO_SESSION)
        client.close()  # twice is fine
        self.assertIn("closed", repr(client))

    def test_all_methods(self):
        session = new_session("methods", {"report.pdf": b"%PDF-1.4 x", "notes.txt": b"hi"})
        with bb.Client(base_url=BASE_URL, api_key=API_KEY) as client:
            client.download(session, self.tmp / "a.zip")
            self.assertEqual(
                zip_names((self.tmp / "a.zip").read_bytes()),
                zip_names(client.download_bytes(session)),
            )
            sink = io.BytesIO()
            client.download_to(session, sink)
            self.assertEqual(zip_names(sink.getvalue()), zip_names(served_archive(session)))
            self.assertEqual(
                zip_names(client.wait_for_downloads(session, timeout=5)),
                zip_names(sink.getvalue()),
            )
            self.assertIsNone(client.wait_for_downloads(session, self.tmp / "b.zip", timeout=5))
            client.extract_downloads(session, self.tmp / "x", timeout=5)
            self.assertEqual((self.tmp / "x" / "report.pdf").read_bytes(), b"%PDF-1.4 x")
            self.assertEqual((self.tmp / "x" / "notes.txt").read_bytes(), b"hi")

    def test_keyword_settings(self):
        session = new_session("settings", {"a.txt": b"a"})
        with bb.Client(
            base_url=BASE_URL,
            api_key=API_KEY,
            connect_timeout=2.5,
            timeout=dt.timedelta(seconds=10),
            deadline=20,
            max_retries=1,
            user_agent_suffix="py-test/1.0",
            fsync=True,
            load_env=False,
        ) as client:
            client.download(session, self.tmp / "a.zip")
        (agent,) = [r["user-agent"] for r in requests_for(session)]
        self.assertRegex(agent, r"^browserbase-c/\S+ py-test/1\.0$")

    def test_max_archive_bytes(self):
        session = new_session("max-archive", {"a.txt": b"a" * 1000})
        size = len(served_archive(session))
        with quick_client(max_archive_bytes=size - 1, max_retries=2) as client:
            before = len(requests_for(session))
            with self.assertRaises(bb.APIStatusError) as caught:
                client.download(session, self.tmp / "limited.zip")
            self.assertEqual(caught.exception.code, "BB_ERR_HTTP")
            self.assertEqual(caught.exception.status_code, 0)
            self.assertIn(f"larger than the limit of {size - 1} bytes", str(caught.exception))
            self.assertEqual(len(requests_for(session)) - before, 1)  # not retried
            self.assertEqual(os.listdir(self.tmp), [])
        with quick_client(max_archive_bytes=size) as client:
            self.assertEqual(len(client.download_bytes(session)), size)
        for bad in (-1, 2**64):
            with self.assertRaises(bb.InvalidArgumentError):
                bb.Client(max_archive_bytes=bad)

    def test_resume(self):
        session = new_session("resume", {"big.bin": os.urandom(200_000)})
        archive = served_archive(session)
        # (keyword, BROWSERBASE_RESUME, the retry's Range)
        for resume, env, ranges in (
            (None, None, ["bytes=50000-"]),
            (False, None, [None]),
            (None, "0", [None]),
            (True, "0", ["bytes=50000-"]),  # the keyword wins over the environment
        ):
            script(session, "cut 50000")
            before = len(requests_for(session))
            settings = {} if resume is None else {"resume": resume}
            if env is not None:
                os.environ["BROWSERBASE_RESUME"] = env
            try:
                with quick_client(max_retries=1, **settings) as client:
                    self.assertEqual(client.download_bytes(session), archive)
            finally:
                os.environ.pop("BROWSERBASE_RESUME", None)
            seen = requests_for(session)[before:]
            self.assertEqual([r.get("range") for r in seen], [None] + ranges, (resume, env))

    def test_client_key_beats_environment_and_call_key_beats_client(self):
        with quick_client(api_key="not-the-key") as client:
            with self.assertRaises(bb.AuthenticationError):
                client.download_bytes(DEMO_SESSION)
            self.assertEqual(client.download_bytes(DEMO_SESSION, api_key=API_KEY)[:2], b"PK")

    def test_load_env(self):
        os.environ["BROWSERBASE_MAX_RETRIES"] = "lots"
        try:
            with self.assertRaises(bb.InvalidArgumentError) as caught:
                bb.Client()
            self.assertIn("BROWSERBASE_MAX_RETRIES", str(caught.exception))
            # Without the environment: the built-in defaults plus keywords
            # (the key still comes from BROWSERBASE_API_KEY at call time).
            with bb.Client(load_env=False, base_url=BASE_URL) as client:
                self.assertEqual(client.download_bytes(DEMO_SESSION)[:2], b"PK")
        finally:
            del os.environ["BROWSERBASE_MAX_RETRIES"]
        with bb.Client.from_env() as client:  # BROWSERBASE_BASE_URL: the server
            self.assertEqual(client.download_bytes(DEMO_SESSION)[:2], b"PK")

    def test_retries_setting(self):
        session = new_session("retries", {"a.txt": b"a"})
        script(session, "status 500", "status 500")
        with quick_client(max_retries=0) as client:
            with self.assertRaises(bb.InternalServerError):
                client.download_bytes(session)
        # One 500 left in the script: a single retry gets past it.
        with quick_client(max_retries=1) as client:
            self.assertEqual(
                zip_names(client.download_bytes(session)), zip_names(served_archive(session))
            )

    def test_deadline_setting(self):
        session = new_session("deadline", {"a.txt": b"a"})
        script(session, "stall-headers 3000")
        started = time.monotonic()
        with quick_client(timeout=10, deadline=0.3) as client:
            with self.assertRaises(bb.APITimeoutError):
                client.download_bytes(session)
        self.assertLess(time.monotonic() - started, 2.5)

    def test_proxy_setting_is_used(self):
        session = new_session("proxy", {"a.txt": b"a"})
        with quick_client(proxy=f"http://127.0.0.1:{closed_port()}") as client:
            with self.assertRaises(bb.APIConnectionError):
                client.download_bytes(session)
        self.assertEqual(requests_for(session), [], "the request bypassed the proxy")

    def test_ca_file_setting(self):
        with self.assertRaises(bb.LocalIOError) as caught:
            bb.Client(ca_file=self.tmp / "missing.pem")
        self.assertIn("missing.pem", str(caught.exception))
        (self.tmp / "bad.pem").write_text("not a certificate\n")
        with self.assertRaises(bb.InvalidArgumentError):
            bb.Client(ca_file=[str(self.tmp / "bad.pem")])

    def test_bad_settings(self):
        bad = [
            dict(timeout=0),
            dict(timeout=-1),
            dict(connect_timeout=float("nan")),
            dict(timeout=float("inf")),
            dict(deadline=5_000_000),  # more than UINT32_MAX ms
            dict(max_retries=-1),
            dict(max_retries=101),  # the library's own limit
            dict(max_retries=2**32),
            dict(user_agent_suffix="bad\nsuffix"),
            dict(base_url="not a url"),
            dict(proxy="::::"),
        ]
        for settings in bad:
            with self.subTest(**{k: repr(v) for k, v in settings.items()}):
                with self.assertRaises(bb.InvalidArgumentError):
                    bb.Client(**settings)
        for settings in (dict(timeout="5"), dict(max_retries=True), dict(max_retries=1.0)):
            with self.subTest(**{k: repr(v) for k, v in settings.items()}):
                with self.assertRaises(TypeError):
                    bb.Client(**settings)
        with self.assertRaises(TypeError):
            bb.Client(BASE_URL)  # keywords only

    def test_sub_millisecond_timeout_rounds_up(self):
        with bb.Client(timeout=0.0001, deadline=0) as client:
            self.assertFalse(client.closed)

    def test_shared_between_threads_and_closed_during_a_call(self):
        slow = new_session("slow", {"a.txt": b"a"})
        script(slow, "stall-headers 3000")
        client = quick_client(timeout=5)
        results, errors = [], []

        def work(session):
            try:
                results.append(zip_names(client.download_bytes(session)))
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [
            threading.Thread(target=work, args=(s,))
            for s in (slow, DEMO_SESSION, DEMO_SESSION)
        ]
        for t in threads:
            t.start()
        # Close once the slow call's request reached the server (it then
        # stalls for 3 s): an event, not a guess at how long starting takes.
        started = time.monotonic()
        while not requests_for(slow):
            self.assertLess(time.monotonic() - started, 30, "the slow call never started")
            time.sleep(0.01)
        client.close()  # the slow call is still running: freed when it ends
        self.assertTrue(client.closed)
        for t in threads:
            t.join(10)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 3)
        self.assertIsNone(client._Handle__ptr, "not freed after the last call")
        with self.assertRaises(bb.InvalidArgumentError):
            client.download_bytes(DEMO_SESSION)


# ---------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------


class Stop(Exception):
    pass


class ProgressTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        # Incompressible, so the archive arrives in several chunks.
        self.session = new_session("progress", {"big.bin": os.urandom(600_000)})
        self.size = len(served_archive(self.session))
        self.calls = []

    def record(self, received, total):
        self.calls.append((received, total))

    def check_from_zero_to_the_size(self, calls, size):
        self.assertGreaterEqual(len(calls), 2, calls)
        self.assertEqual(calls[0], (0, size))
        self.assertEqual(calls[-1], (size, size))
        received = [r for r, _ in calls]
        self.assertEqual(received, sorted(received), "progress went backwards")
        self.assertEqual({t for _, t in calls}, {size})

    def test_progress_from_zero_to_the_archive_size(self):
        with quick_client(progress=self.record) as client:
            data = client.download_bytes(self.session)
        self.assertEqual(len(data), self.size)
        self.check_from_zero_to_the_size(self.calls, self.size)
        self.assertGreater(len(self.calls), 2, "one chunk only: the test proves little")

    def test_every_method_reports_progress(self):
        with quick_client(progress=self.record) as client:
            calls = {
                "download": lambda: client.download(self.session, self.tmp / "a.zip"),
                "download_bytes": lambda: client.download_bytes(self.session),
                "download_to": lambda: client.download_to(self.session, io.BytesIO()),
                "wait_for_downloads": lambda: client.wait_for_downloads(
                    self.session, timeout=5
                ),
                "wait_for_downloads(path)": lambda: client.wait_for_downloads(
                    self.session, self.tmp / "b.zip", timeout=5
                ),
                "extract_downloads": lambda: client.extract_downloads(
                    self.session, self.tmp / "x", timeout=5
                ),
            }
            for name, call in calls.items():
                with self.subTest(method=name):
                    self.calls.clear()
                    call()
                    self.check_from_zero_to_the_size(self.calls, self.size)
        self.assertEqual((self.tmp / "a.zip").stat().st_size, self.size)

    def test_true_and_none_go_on(self):
        for result in (True, None, 0, "yes"):
            with self.subTest(result=result):
                with quick_client(progress=lambda r, t: result) as client:
                    self.assertEqual(len(client.download_bytes(self.session)), self.size)

    def test_returning_false_cancels(self):
        def stop_after_first_chunk(received, total):
            self.record(received, total)
            return received == 0

        before = len(requests_for(self.session))
        with quick_client(progress=stop_after_first_chunk, max_retries=2) as client:
            with self.assertRaises(bb.CancelledError) as caught:
                client.download(self.session, self.tmp / "never.zip")
        self.assertEqual(caught.exception.code, "BB_ERR_CANCELLED")
        self.assertEqual(len(self.calls), 2, self.calls)
        self.assertGreater(self.calls[1][0], 0)
        self.assertFalse((self.tmp / "never.zip").exists())
        self.assertEqual(os.listdir(self.tmp), [], "a temporary file was left behind")
        self.assertEqual(len(requests_for(self.session)), before + 1, "a cancel was retried")

    def test_an_exception_cancels_and_propagates_after_the_call(self):
        def boom(received, total):
            self.record(received, total)
            if received > 0:
                raise Stop("enough")

        before = len(requests_for(self.session))
        with quick_client(progress=boom, max_retries=2) as client:
            with self.assertRaises(Stop) as caught:
                client.download_bytes(self.session)
            self.assertEqual(str(caught.exception), "enough")
            self.assertIsNone(caught.exception.__context__, "raised during another exception")
            self.assertEqual(len(self.calls), 2, "the download went on after the exception")
            self.assertEqual(
                len(requests_for(self.session)), before + 1, "a cancel was retried"
            )
            # The client is fine afterwards: the next exception is the next one.
            with self.assertRaises(Stop):
                client.download_to(self.session, io.BytesIO())
            with self.assertRaises(Stop):
                client.wait_for_downloads(self.session, timeout=5)

    def test_an_exception_at_the_first_report_writes_nothing(self):
        def refuse(received, total):
            raise KeyboardInterrupt  # not even an Exception

        with quick_client(progress=refuse) as client:
            with self.assertRaises(KeyboardInterrupt):
                client.extract_downloads(self.session, self.tmp / "x", timeout=5)
        self.assertFalse((self.tmp / "x").exists())

    def test_sink_and_progress_together(self):
        chunks = []
        with quick_client(progress=self.record) as client:
            total = client.download_to(self.session, chunks.append)
            self.assertEqual(total, self.size)
            self.check_from_zero_to_the_size(self.calls, self.size)
            with self.assertRaises(Stop):
                client.download_to(self.session, lambda chunk: (_ for _ in ()).throw(Stop()))

    def test_each_poll_of_a_wait_starts_from_zero(self):
        script(self.session, "empty", "empty")
        with quick_client(progress=self.record) as client:
            client.wait_for_downloads(self.session, timeout=10)
        starts = [i for i, (r, _) in enumerate(self.calls) if r == 0]
        self.assertEqual(len(starts), 3, self.calls)
        self.check_from_zero_to_the_size(self.calls[starts[-1]:], self.size)
        self.assertEqual(self.calls[starts[0]], (0, 22))  # the empty archive

    def test_exceptions_stay_on_their_own_thread(self):
        def progress(received, total):
            if threading.current_thread().name == "bad" and received > 0:
                raise Stop("bad thread")

        outcomes = {}

        def work(client):
            try:
                outcomes[threading.current_thread().name] = len(
                    client.download_bytes(self.session)
                )
            except BaseException as e:  # noqa: BLE001
                outcomes[threading.current_thread().name] = e

        with quick_client(progress=progress) as client:
            threads = [
                threading.Thread(target=work, args=(client,), name=name)
                for name in ("bad", "good1", "good2")
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        self.assertIsInstance(outcomes["bad"], Stop)
        self.assertEqual((outcomes["good1"], outcomes["good2"]), (self.size, self.size))

    def test_callback_outlives_every_reference_but_the_client(self):
        def make():
            seen = []
            client = quick_client(progress=lambda r, t: seen.append(r))
            return client, seen

        client, seen = make()
        gc.collect()
        with client:
            client.download_bytes(self.session)
        self.assertEqual(seen[-1], self.size)
        # A cycle client -> callback -> client, collected by the GC: the C
        # client is freed before the callback (no crash, no leak warning).
        cyclic = quick_client(progress=lambda r, t: not cyclic.closed)
        cyclic.download_bytes(self.session)
        del cyclic
        gc.collect()

    def test_progress_must_be_callable(self):
        with self.assertRaises(TypeError):
            bb.Client(progress=42)


# ---------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def captured_records(level=logging.DEBUG):
    """Every record the browserbase_c logger handles (possibly none)."""
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    log = logging.getLogger("browserbase_c")
    handler = Keep(level)
    saved = (log.level, log.propagate)
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


class LoggingTest(unittest.TestCase):
    def tearDown(self):
        bb.disable_logging()

    def test_request_lines_reach_the_logging_module(self):
        session = new_session("log", {"a.txt": b"a"})
        bb.enable_logging(level=logging.INFO)
        with self.assertLogs("browserbase_c", level="INFO") as logs:
            with quick_client() as client:
                client.download_bytes(session)
            with self.assertRaises(bb.AuthenticationError):
                bb.download_bytes(session, api_key="py-secret-wrong-key")
        lines = [r.getMessage() for r in logs.records]
        ours = [line for line in lines if f"GET /v1/sessions/{session}/downloads" in line]
        self.assertEqual(len(ours), 2, lines)
        self.assertIn("-> 200", ours[0])
        self.assertIn("-> 401", ours[1])
        self.assertTrue(all(r.levelno == logging.INFO for r in logs.records), lines)
        self.assertTrue(all(r.name == "browserbase_c" for r in logs.records))
        for line in lines:
            self.assertNotIn(API_KEY, line)
            self.assertNotIn("py-secret-wrong-key", line)

    def test_retries_are_warnings(self):
        session = new_session("logretry", {"a.txt": b"a"})
        script(session, "status 503")
        bb.enable_logging(logging.WARNING)
        with self.assertLogs("browserbase_c", level="DEBUG") as logs:
            with quick_client(max_retries=1) as client:
                client.download_bytes(session)
        # At WARNING the library sends no INFO line at all.
        self.assertEqual([r.levelno for r in logs.records], [logging.WARNING], logs.output)
        self.assertIn("retrying", logs.records[0].getMessage())

    def test_level_names_and_debug(self):
        session = new_session("logdebug", {"a.txt": b"a"})
        bb.enable_logging("debug")
        with captured_records() as records:
            bb.download_bytes(session)
        self.assertTrue(any(session in r.getMessage() for r in records))
        bb.enable_logging("ERROR")
        with captured_records() as records:
            bb.download_bytes(session)
        self.assertEqual(records, [])

    def test_disable_logging_stops_the_lines(self):
        session = new_session("logoff", {"a.txt": b"a"})
        bb.enable_logging()
        bb.disable_logging()
        with captured_records() as records:
            bb.download_bytes(session)
        self.assertEqual(records, [])
        bb.disable_logging()  # twice is fine

    def test_above_error_silences_the_library(self):
        bb.enable_logging(logging.CRITICAL)
        with captured_records() as records:
            with self.assertRaises(bb.NotFoundError):
                bb.download_bytes(UNKNOWN_SESSION)
        self.assertEqual(records, [])

    def test_bad_levels(self):
        for level in (1.5, True, None):
            with self.subTest(level=level), self.assertRaises(TypeError):
                bb.enable_logging(level)
        with self.assertRaises(ValueError):
            bb.enable_logging("loud")

    def test_a_failing_logger_never_reaches_c(self):
        class Explode(logging.Filter):
            def filter(self, record):
                raise RuntimeError("a broken filter")

        unraisable = []
        saved_hook = sys.unraisablehook
        sys.unraisablehook = unraisable.append
        explode = Explode()
        log = logging.getLogger("browserbase_c")
        log.addFilter(explode)
        try:
            bb.enable_logging(logging.DEBUG)
            with captured_records() as records:  # the logger at DEBUG: the filter runs
                self.assertEqual(bb.download_bytes(DEMO_SESSION)[:2], b"PK")
        finally:
            log.removeFilter(explode)
            sys.unraisablehook = saved_hook
        self.assertEqual(records, [])
        self.assertEqual(unraisable, [], "an exception escaped into ctypes")

    def test_changing_the_setting_while_holding_a_lock_the_handler_needs(self):
        # A logging handler on a download thread waits for a lock the main
        # thread holds while it calls disable_logging() (then enable_logging,
        # and a handler that changes the setting itself): with a setter that
        # waits for lines under way, neither thread moves. In a child
        # process, so that a deadlock fails the test instead of hanging it.
        child = textwrap.dedent(
            """
            import logging, sys, threading
            import browserbase_c as bb

            lock = threading.Lock()
            entered = threading.Event()

            class Blocking(logging.Handler):
                def emit(self, record):
                    entered.set()
                    with lock:
                        pass
                    bb.enable_logging(logging.INFO)  # from inside a line, too

            log = logging.getLogger("browserbase_c")
            log.addHandler(Blocking())
            log.setLevel(logging.INFO)
            log.propagate = False
            bb.enable_logging(logging.INFO)
            with lock:
                thread = threading.Thread(target=bb.download_bytes, args=(sys.argv[1],))
                thread.start()
                if not entered.wait(20):
                    sys.exit("no log line within 20 s")
                bb.disable_logging()
                bb.enable_logging(logging.DEBUG)
            thread.join(20)
            bb.disable_logging()
            print("done" if not thread.is_alive() else "download still running")
            """
        )
        try:
            result = subprocess.run(
                [sys.executable, "-c", child, DEMO_SESSION],
                env={**os.environ, "PYTHONPATH": PKG_ROOT},
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired as e:
            self.fail(f"deadlocked: {e.stdout!r} {e.stderr!r}")
        self.assertEqual((result.returncode, result.stdout.strip()), (0, "done"), result.stderr)

    def test_lines_from_other_threads(self):
        session = new_session("logthreads", {"a.txt": b"a"})
        bb.enable_logging()
        with self.assertLogs("browserbase_c", level="INFO") as logs:
            threads = [
                threading.Thread(target=bb.download_bytes, args=(session,)) for _ in range(4)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        self.assertEqual(
            sum(f"/v1/sessions/{session}/downloads -> 200" in line for line in logs.output), 4
        )


# ---------------------------------------------------------------------------
# Waiting
# ---------------------------------------------------------------------------


class WaitTest(TempDirTestCase):
    def test_wait_for_a_syncing_session_into_a_file(self):
        session = new_session("sync", {"report.pdf": b"%PDF"})
        control("POST", f"sessions/{session}/ready-after-ms", b"500")
        started = time.monotonic()
        self.assertIsNone(bb.wait_for_downloads(session, self.tmp / "w.zip", timeout=10))
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        self.assertEqual(len(zip_names((self.tmp / "w.zip").read_bytes())), 1)
        self.assertGreater(len(requests_for(session)), 1)

    def test_wait_returns_bytes_without_a_path(self):
        session = new_session("syncbytes", {"a.txt": b"a"})
        script(session, "empty", "empty")
        data = bb.wait_for_downloads(session, timeout=10)
        self.assertEqual(len(zip_names(data)), 1)
        self.assertEqual(len(requests_for(session)), 3)

    def test_stable_at_module_level_and_through_a_client(self):
        session = new_session("stable", {"a.txt": b"a"})
        script(session, "empty")
        data = bb.wait_for_downloads(session, timeout=10, stable=True)
        self.assertEqual(len(zip_names(data)), 1)
        # Stable: at least two polls saw the file (after the empty one).
        self.assertGreaterEqual(len(requests_for(session)), 3)
        with quick_client() as client:
            client.wait_for_downloads(session, self.tmp / "s.zip", timeout=10, stable=True)
        self.assertTrue((self.tmp / "s.zip").exists())

    def test_timeout_is_not_ready(self):
        started = time.monotonic()
        with self.assertRaises(bb.NotReadyError) as caught:
            bb.wait_for_downloads(EMPTY_SESSION, self.tmp / "never.zip", timeout=0.3)
        self.assertLess(time.monotonic() - started, 3)
        self.assertIn(EMPTY_SESSION, str(caught.exception))
        self.assertFalse((self.tmp / "never.zip").exists())
        with self.assertRaises(bb.InvalidArgumentError):
            bb.wait_for_downloads(EMPTY_SESSION, timeout=-1)

    def test_timeout_none_and_timedelta(self):
        self.assertEqual(
            bb.wait_for_downloads(DEMO_SESSION, timeout=None), served_archive(DEMO_SESSION)
        )
        self.assertEqual(
            bb.wait_for_downloads(DEMO_SESSION, timeout=dt.timedelta(seconds=1)),
            served_archive(DEMO_SESSION),
        )

    def test_wait_stops_at_once_on_not_found(self):
        started = time.monotonic()
        with self.assertRaises(bb.NotFoundError):
            bb.wait_for_downloads(UNKNOWN_SESSION, timeout=30)
        self.assertLess(time.monotonic() - started, 3)


# ---------------------------------------------------------------------------
# Archives and extraction
# ---------------------------------------------------------------------------


def make_zip(entries):
    """A ZIP archive in memory: entries is a list of (name, bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, content in entries:
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 6, 24, 21, 49, 56)), content)
    return out.getvalue()


class ArchiveTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.demo = served_archive(DEMO_SESSION)
        (self.tmp / "demo.zip").write_bytes(self.demo)

    def check_demo_entries(self, archive):
        self.assertEqual(len(archive), 2)
        by_name = {e.original_name: e for e in archive}
        self.assertEqual(sorted(by_name), ["data.csv", "report.pdf"])
        pdf = by_name["report.pdf"]
        self.assertEqual(pdf.name, f"report-{DEMO_PDF_MS}.pdf")
        self.assertGreater(pdf.size, 0)
        self.assertEqual(
            pdf.download_time,
            dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
            + dt.timedelta(milliseconds=DEMO_PDF_MS),
        )
        self.assertIsInstance(pdf.mtime, dt.datetime)
        self.assertEqual(pdf.mtime.tzinfo, dt.timezone.utc)
        self.assertFalse(pdf.is_dir)

    def test_open_every_kind_of_source(self):
        sources = [
            self.tmp / "demo.zip",
            str(self.tmp / "demo.zip"),
            self.demo,
            bytearray(self.demo),
            memoryview(self.demo),
        ]
        for source in sources:
            with self.subTest(source=type(source).__name__):
                with bb.Archive.open(source) as archive:
                    self.check_demo_entries(archive)
        with bb.Archive.open_file(os.fsencode(self.tmp / "demo.zip")) as archive:
            self.check_demo_entries(archive)
        with bb.Archive.from_bytes(self.demo) as archive:
            self.assertEqual(archive[0], archive.entries[0])

    def test_entries_survive_close(self):
        archive = bb.Archive.open(self.demo)
        archive.close()
        self.assertTrue(archive.closed)
        self.check_demo_entries(archive)
        with self.assertRaises(bb.InvalidArgumentError):
            archive.extract_to(self.tmp / "x")

    def test_empty_and_plain_names(self):
        with bb.Archive.open(b"PK\x05\x06" + b"\0" * 18) as archive:
            self.assertEqual(list(archive), [])
        with bb.Archive.open(make_zip([("dir/", b""), ("plain.txt", b"x")])) as archive:
            d, plain = archive.entries
            self.assertTrue(d.is_dir)
            self.assertEqual(plain.original_name, "plain.txt")
            self.assertIsNone(plain.download_time)
            self.assertEqual(
                plain.mtime, dt.datetime(2024, 6, 24, 21, 49, 56, tzinfo=dt.timezone.utc)
            )

    def test_open_errors(self):
        with self.assertRaises(bb.InvalidArchiveError):
            bb.Archive.open(b"<html>not a zip</html>")
        with self.assertRaises(bb.InvalidArchiveError):
            bb.Archive.open(b"")
        with self.assertRaises(bb.LocalIOError):
            bb.Archive.open(self.tmp / "missing.zip")

    def test_extract_function(self):
        bb.extract(self.tmp / "demo.zip", self.tmp / "out")
        self.assertEqual(sorted(os.listdir(self.tmp / "out")), ["data.csv", "report.pdf"])
        with zipfile.ZipFile(io.BytesIO(self.demo)) as z:
            self.assertEqual(
                (self.tmp / "out" / "report.pdf").read_bytes(),
                z.read(f"report-{DEMO_PDF_MS}.pdf"),
            )

    def test_extract_to_and_limits(self):
        with bb.Archive.open(self.demo) as archive:
            archive.set_limits(max_total_bytes=10)
            with self.assertRaises(bb.InvalidArchiveError):
                archive.extract_to(self.tmp / "small")
            self.assertFalse((self.tmp / "small").exists())
            archive.set_limits(max_ratio=50)  # the byte limit stays
            with self.assertRaises(bb.InvalidArchiveError):
                archive.extract_to(self.tmp / "small")
            archive.set_limits(max_total_bytes=0)  # back to the default
            archive.extract_to(self.tmp / "big")
            self.assertEqual(sorted(os.listdir(self.tmp / "big")), ["data.csv", "report.pdf"])
            with self.assertRaises(bb.InvalidArgumentError):
                archive.set_limits(max_ratio=-1)

    def test_hostile_archive_is_listed_but_never_extracted(self):
        hostile = make_zip([("ok.txt", b"fine"), ("../evil.txt", b"evil")])
        with bb.Archive.open(hostile) as archive:
            self.assertEqual([e.name for e in archive], ["ok.txt", "../evil.txt"])
            with self.assertRaises(bb.InvalidArchiveError):
                archive.extract_to(self.tmp / "out")
        self.assertFalse((self.tmp / "evil.txt").exists())
        self.assertFalse((self.tmp / "out" / "ok.txt").exists())

    def test_extract_downloads(self):
        session = new_session("extract", {"report.pdf": b"%PDF-1"})
        control("POST", f"sessions/{session}/ready-after-ms", b"300")
        bb.extract_downloads(session, self.tmp / "x", timeout=10)
        self.assertEqual(os.listdir(self.tmp / "x"), ["report.pdf"])
        bb.extract_downloads(session, str(self.tmp / "y"), timeout=10, stable=True)
        self.assertEqual(os.listdir(self.tmp / "y"), ["report.pdf"])
        with self.assertRaises(bb.NotReadyError):
            bb.extract_downloads(EMPTY_SESSION, self.tmp / "z", timeout=0)


# ---------------------------------------------------------------------------
# Finding the library; the command line
# ---------------------------------------------------------------------------


def run_python(code, env_changes, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "BROWSERBASE_C_LIBRARY"}
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


PROBE = """
import browserbase_c as bb
try:
    print("loaded", bb.library_path())
except bb.LibraryNotFoundError as e:
    assert isinstance(e, OSError)
    print(e)
"""


class LibraryLookupTest(TempDirTestCase):
    def copy_package(self):
        """The package alone in a fresh directory: nothing bundled with it."""
        shutil.copytree(
            os.path.join(PKG_ROOT, "browserbase_c"),
            self.tmp / "browserbase_c",
            ignore=shutil.ignore_patterns("__pycache__", "libbrowserbase*"),
        )
        return {"PYTHONPATH": str(self.tmp), "LD_LIBRARY_PATH": ""}

    def test_missing_override_names_the_path_and_reason(self):
        missing = str(self.tmp / "nowhere" / "libbrowserbase.so")
        run = run_python(PROBE, {"PYTHONPATH": PKG_ROOT, "BROWSERBASE_C_LIBRARY": missing})
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("cannot load libbrowserbase; tried:", run.stdout)
        self.assertIn(f"$BROWSERBASE_C_LIBRARY={missing}", run.stdout)
        self.assertIn("No such file", run.stdout)

    def test_a_library_that_is_not_libbrowserbase(self):
        other = "libc.so.6"  # a real library without bb_* symbols
        run = run_python(PROBE, {"PYTHONPATH": PKG_ROOT, "BROWSERBASE_C_LIBRARY": other})
        self.assertIn("lacks bb_version", run.stdout)

    def test_every_place_is_listed_when_nothing_loads(self):
        run = run_python(PROBE, self.copy_package())
        self.assertEqual(run.returncode, 0, run.stderr)
        if run.stdout.startswith("loaded"):
            self.skipTest(f"a libbrowserbase is installed on this system: {run.stdout}")
        for place in (
            "next to the package: no libbrowserbase.so* in",
            "the system search path: libbrowserbase.so.0",
            "ctypes.util.find_library('browserbase')",
            "the system search path: libbrowserbase.so:",
            "BROWSERBASE_C_LIBRARY",
        ):
            self.assertIn(place, run.stdout)

    def test_a_library_next_to_the_package_is_found(self):
        env = self.copy_package()
        bundled = self.tmp / "browserbase_c" / "libbrowserbase.so"
        os.symlink(LIBRARY, bundled)
        run = run_python(PROBE + "print(bb.version())", env)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout.split(), ["loaded", str(bundled), bb.version()])

    def test_import_needs_no_library(self):
        run = run_python(
            "import browserbase_c as bb; print(bb.NotFoundError.__mro__[1].__name__)",
            {"PYTHONPATH": PKG_ROOT, "BROWSERBASE_C_LIBRARY": "/nonexistent.so"},
        )
        self.assertEqual((run.returncode, run.stdout.strip()), (0, "APIStatusError"), run.stderr)


class CommandLineTest(TempDirTestCase):
    def cli(self, *args):
        return subprocess.run(
            [sys.executable, "-m", "browserbase_c", *map(str, args)],
            env={**os.environ, "PYTHONPATH": PKG_ROOT},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def test_download(self):
        out = self.tmp / "cli.zip"
        run = self.cli(DEMO_SESSION, out)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("2 files", run.stdout)
        self.assertIn("report.pdf", run.stdout)
        self.assertEqual(out.read_bytes(), served_archive(DEMO_SESSION))

    def test_wait_and_extract(self):
        run = self.cli("--extract", "--wait", "5", DEMO_SESSION, self.tmp / "d")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(sorted(os.listdir(self.tmp / "d")), ["data.csv", "report.pdf"])

    def test_failure(self):
        run = self.cli(UNKNOWN_SESSION, self.tmp / "x.zip")
        self.assertEqual(run.returncode, 1)
        self.assertIn("BB_ERR_NOT_FOUND (HTTP 404)", run.stderr)
        self.assertEqual(self.cli().returncode, 2)


if __name__ == "__main__":
    unittest.main()


# ---------------------------------------------------------------------------
# Many sessions in one call
# ---------------------------------------------------------------------------


class BatchTest(TempDirTestCase):
    def test_a_dict_of_id_to_none_or_exception(self):
        ok = [new_session("batch-ok", {"a.txt": b"a"}) for _ in range(3)]
        missing = f"py-batch-missing-{uuid.uuid4()}"
        ids = [ok[0], missing, ok[1], ok[2]]
        results = bb.download_sessions(ids, self.tmp, concurrency=2)
        self.assertEqual(list(results), ids)
        self.assertIsNone(results[ok[0]])
        self.assertIsInstance(results[missing], bb.NotFoundError)
        self.assertIn("404", str(results[missing]))
        self.assertEqual(everything_in(self.tmp), sorted(f"{i}.zip" for i in ok))

    def test_client_batch_with_encoded_names_and_progress(self):
        seen = []
        session = f".py-batch-dot-{uuid.uuid4()}"  # a leading dot: encoded
        control("PUT", f"sessions/{session}/files/a.txt", b"a")
        with quick_client(progress=lambda received, total: seen.append(received)) as client:
            results = client.download_sessions([session], str(self.tmp))
        self.assertEqual(results, {session: None})
        self.assertEqual(everything_in(self.tmp), ["%2E" + session[1:] + ".zip"])
        self.assertEqual(seen[0], 0)

    def test_bad_input_raises_before_anything_is_sent(self):
        session = new_session("batch-bad", {"a.txt": b"a"})
        before = standin.request_count()
        with self.assertRaises(bb.InvalidArgumentError) as caught:
            bb.download_sessions([session, session], self.tmp)
        self.assertIn("duplicate", str(caught.exception))
        with self.assertRaises(bb.InvalidArgumentError):
            bb.download_sessions([], self.tmp)
        with self.assertRaises(bb.InvalidArgumentError) as caught:
            bb.download_sessions([session, ".."], self.tmp)
        self.assertIn("session_ids[1]", str(caught.exception))
        with self.assertRaises(bb.LocalIOError):
            bb.download_sessions([session], self.tmp / "missing")
        with self.assertRaises(TypeError):
            bb.download_sessions(session, self.tmp)
        self.assertEqual(standin.request_count(), before)
        self.assertEqual(everything_in(self.tmp), [])

    def test_a_cancel_stops_the_batch_and_leaves_the_finished_files(self):
        done = new_session("batch-done", {"a.txt": b"a"})
        stalled = new_session("batch-stalled", {"a.txt": b"a"})
        script(stalled, "stall-headers 60000")
        with bb.Cancel() as cancel:
            outcome = []

            def call():
                outcome.append(bb.download_sessions([done, stalled], self.tmp, 2, cancel=cancel))

            thread = threading.Thread(target=call)
            thread.start()
            wait_for_request(stalled)
            cancel.cancel()
            thread.join(10)
            self.assertFalse(thread.is_alive(), "the cancelled batch did not return")
        results = outcome[0]
        self.assertIsInstance(results[stalled], bb.CancelledError)
        finished = [f"{done}.zip"] if results[done] is None else []
        self.assertEqual(everything_in(self.tmp), finished)


# ---------------------------------------------------------------------------
# Cancellation: Cancel handles and Ctrl-C
# ---------------------------------------------------------------------------


def wait_for_request(session, limit=20.0):
    """Returns once the server logged a request to `session` (polling its
    request log: the event, not a guess at how long it takes)."""
    end = time.monotonic() + limit
    while not requests_for(session):
        if time.monotonic() > end:
            raise AssertionError(f"no request to {session} within {limit} s")
        time.sleep(0.01)  # poll interval of the request log


def everything_in(directory):
    return sorted(str(p.relative_to(directory)) for p in pathlib.Path(directory).rglob("*"))


_INTERRUPTED_CHILD = textwrap.dedent(
    """
    import signal, sys, time
    import browserbase_c as bb

    signal.signal(signal.SIGINT, signal.default_int_handler)
    what, session, target = sys.argv[1:4]
    started = time.monotonic()
    try:
        if what == "download":
            bb.download(session, target)
        elif what == "wait":
            bb.wait_for_downloads(session, target, timeout=60)
        elif what == "extract":
            bb.extract_downloads(session, target, timeout=60)
        elif what == "sessions":
            bb.download_sessions([session, session + "-2"], target)
        elif what == "client-bytes":
            with bb.Client() as client:
                client.download_bytes(session)
        print("returned", flush=True)
    except KeyboardInterrupt:
        print(f"KeyboardInterrupt {time.monotonic() - started:.3f}", flush=True)
        sys.exit(0)
    except BaseException as e:
        print(f"raised {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
    """
)


class CancelTest(TempDirTestCase):
    def interrupt(self, what, session, target):
        """Runs `what` in a child Python against `session`, sends it SIGINT
        once its request reached the server, and returns its report."""
        child = subprocess.Popen(
            [sys.executable, "-c", _INTERRUPTED_CHILD, what, session, str(target)],
            env={**os.environ, "PYTHONPATH": PKG_ROOT},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_request(session)
            sent = time.monotonic()
            child.send_signal(signal.SIGINT)
            out, err = child.communicate(timeout=10)
            took = time.monotonic() - sent
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        self.assertEqual(child.returncode, 0, (out, err))
        self.assertTrue(out.startswith("KeyboardInterrupt"), (out, err))
        self.assertLess(took, 5, (out, err))
        return out

    def test_ctrl_c_interrupts_a_download_stalled_on_a_silent_server(self):
        session = new_session("sigint-dl", {"a.txt": b"a"})
        script(session, "stall-headers 60000")
        self.interrupt("download", session, self.tmp / "out.zip")
        self.assertEqual(everything_in(self.tmp), [], "a file or temporary file was left")

    def test_ctrl_c_interrupts_a_wait(self):
        session = new_session("sigint-wait", {"a.txt": b"a"})
        script(session, "stall-headers 60000")
        self.interrupt("wait", session, self.tmp / "out.zip")
        self.assertEqual(everything_in(self.tmp), [])

    def test_ctrl_c_interrupts_an_extraction(self):
        session = new_session("sigint-extract", {"a.txt": b"a"})
        script(session, "stall-headers 60000")
        dest = self.tmp / "out"
        self.interrupt("extract", session, dest)
        self.assertEqual(everything_in(self.tmp), [], "the extraction left something")

    def test_ctrl_c_interrupts_a_batch(self):
        session = new_session("sigint-batch", {"a.txt": b"a"})
        script(session, "stall-headers 60000")
        self.interrupt("sessions", session, self.tmp)
        self.assertEqual(everything_in(self.tmp), [], "the batch left something")

    def test_ctrl_c_interrupts_a_client_call(self):
        session = new_session("sigint-client", {"a.txt": b"a"})
        script(session, "stall-headers 60000")
        self.interrupt("client-bytes", session, "-")

    def test_cancel_from_another_thread(self):
        session = new_session("cancel-thread", {"a.txt": b"a"})
        script(session, "stall-headers 60000")
        dest = self.tmp / "out.zip"
        with bb.Cancel() as cancel:
            self.assertFalse(cancel.cancelled)
            outcome = []

            def call():
                try:
                    bb.download(session, dest, cancel=cancel)
                    outcome.append("returned")
                except BaseException as e:  # noqa: BLE001
                    outcome.append(e)

            thread = threading.Thread(target=call)
            thread.start()
            wait_for_request(session)
            cancel.cancel()
            thread.join(10)
            self.assertFalse(thread.is_alive(), "the cancelled call did not return")
            self.assertTrue(cancel.cancelled)
        self.assertIsInstance(outcome[0], bb.CancelledError)
        self.assertEqual(everything_in(self.tmp), [])

    def test_cancelled_before_the_call_sends_nothing(self):
        session = new_session("cancel-before", {"a.txt": b"a"})
        cancel = bb.Cancel()
        cancel.cancel()
        cancel.cancel()  # twice is fine
        for call in (
            lambda: bb.download(session, self.tmp / "out.zip", cancel=cancel),
            lambda: bb.download_bytes(session, cancel=cancel),
            lambda: bb.wait_for_downloads(session, cancel=cancel),
            lambda: bb.extract_downloads(session, self.tmp / "dir", cancel=cancel),
            lambda: quick_client().download_to(session, lambda chunk: None, cancel=cancel),
        ):
            with self.assertRaises(bb.CancelledError):
                call()
        self.assertEqual(requests_for(session), [])
        self.assertEqual(everything_in(self.tmp), [])
        with bb.Archive.open(bb.download_bytes(DEMO_SESSION)) as archive:
            with self.assertRaises(bb.CancelledError):
                archive.extract_to(self.tmp / "x", cancel=cancel)
        self.assertEqual(everything_in(self.tmp), [])
        cancel.close()
        cancel.cancel()  # closed: does nothing
        self.assertFalse(cancel.cancelled)
        self.assertIn("closed", repr(cancel))

    def test_a_cancel_that_is_not_a_cancel_is_refused(self):
        session = new_session("cancel-bad", {"a.txt": b"a"})
        for bad in (True, 1, object()):
            with self.subTest(bad=bad), self.assertRaises(TypeError):
                bb.download_bytes(session, cancel=bad)
        self.assertEqual(requests_for(session), [])

    def test_callbacks_and_their_exceptions_still_work_from_the_main_thread(self):
        # The main thread's calls run on a helper thread (so that Ctrl-C can
        # be taken): a sink's exception still propagates as itself.
        class Boom(Exception):
            pass

        def sink(chunk):
            raise Boom("from the sink")

        with self.assertRaises(Boom):
            bb.download_to(DEMO_SESSION, sink)
