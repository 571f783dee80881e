"""The stand-in server and the environment, for every Python test suite.

Shared by `tests/python/test_ctypes.py` (the library through raw ctypes) and
`bindings/python/tests/test_package.py` (the package): starting and stopping
`bb-stand-in-server --demo`, its control API (sessions, fault scripts, the
request log), and setting the `BROWSERBASE_*` environment for the library's
default client while hiding the caller's own. Standard library only.
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import threading
import urllib.request
import uuid
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = os.path.join(REPO, "include", "browserbase.h")
DEBUG_DIR = os.path.join(REPO, "target", "debug")
SERVER = os.environ.get("BB_STAND_IN_SERVER") or os.path.join(DEBUG_DIR, "bb-stand-in-server")

API_KEY = "bb_test_key"
DEMO_SESSION = "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80"
EMPTY_SESSION = "1c6f4b8d-ae30-4d72-9f5b-6a4c3b2d0e91"
UNKNOWN_SESSION = "00000000-0000-4000-8000-000000000000"
EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18

# The running server (set by start()) and what the environment held before.
_server = None
_base_url = None
_saved_env = {}


def require(what, path, variable):
    """Fails clearly when a built file the tests need is missing."""
    if not os.path.isfile(path):
        raise RuntimeError(
            f"{what} not found at {path}: run `cargo build` first "
            f"(from {REPO}), or point {variable} at it"
        )


def start():
    """Starts `bb-stand-in-server --demo` on loopback; returns its base URL."""
    global _server, _base_url
    require("the stand-in server", SERVER, "BB_STAND_IN_SERVER")
    proc = subprocess.Popen(
        # --exit-on-stdin-eof: if this process dies without stop() (a crash
        # inside the library, say), the server goes with it.
        [SERVER, "--listen", "127.0.0.1:0", "--demo", "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    first = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(15)
    line = first[0].decode("utf-8", "replace").strip() if first else ""
    match = re.fullmatch(r"listening (http://127\.0\.0\.1:\d+)", line)
    if match is None:
        _kill(proc)
        raise RuntimeError(
            f"{SERVER} did not print `listening http://127.0.0.1:PORT` "
            f"(first line {line!r}, exit status {proc.returncode})"
        )

    # Nothing more is expected on stdout, but never let a full pipe block it.
    def drain():
        for _ in proc.stdout:
            pass

    threading.Thread(target=drain, daemon=True).start()
    _server, _base_url = proc, match.group(1)
    return _base_url


def stop():
    """Stops the server and gives the environment back (idempotent)."""
    global _server, _base_url
    if _server is not None:
        _kill(_server)
        _server = _base_url = None
    restore_environment()


def _kill(proc):
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(10)
    finally:
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass


def set_environment(values):
    """Hides every BROWSERBASE_* variable the caller had (a proxy, a deadline...
    must not change the tests) and sets `values` instead, until
    restore_environment(). The library's default client reads them once, on
    its first use in the process: call this before anything loads it."""
    for name in list(os.environ):
        if name.startswith("BROWSERBASE_"):
            _saved_env.setdefault(name, os.environ.pop(name))
    for name, value in values.items():
        _saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value


def restore_environment():
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved_env.clear()


# ---------------------------------------------------------------------------
# The control API (urllib, never through a proxy)
# ---------------------------------------------------------------------------

_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_call(method, path, body=None, headers=None):
    request = urllib.request.Request(_base_url + path, data=body, method=method, headers=headers or {})
    with _http.open(request, timeout=10) as response:
        return response.read()


def control(method, path, body=None):
    return http_call(method, "/_control/" + path, body)


def new_session(prefix, files=None):
    """A session id no other test uses, holding `files` ({name: bytes}) if given."""
    session = f"py-{prefix}-{uuid.uuid4()}"
    for name, content in (files or {}).items():
        control("PUT", f"sessions/{session}/files/{name}", content)
    return session


def script(session, *steps):
    """The session's fault script: one step per request (see stand-in/src/script.rs)."""
    control("POST", f"sessions/{session}/script", "\n".join(steps).encode())


def request_count():
    return int(control("GET", "requests/count").decode().strip())


def request_log():
    return control("GET", "requests").decode("utf-8", "replace")


def requests_for(session):
    """The logged requests (a list of header dicts) to `session`'s downloads."""
    found = []
    for block in request_log().split("\n\n"):
        lines = block.splitlines()
        if lines and f"/v1/sessions/{session}/downloads " in lines[0]:
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            found.append(headers)
    return found


def served_archive(session):
    """The archive as the server serves it, fetched without the library."""
    return http_call("GET", f"/v1/sessions/{session}/downloads", headers={"X-BB-API-Key": API_KEY})


def zip_names(content):
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return sorted(z.namelist())


def closed_port():
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
