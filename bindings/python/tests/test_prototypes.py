"""The package's ctypes prototypes against the header's declarations.

`browserbase_c/_native.py` declares every C function it calls by hand
(ctypes cannot read a header). This test parses `include/browserbase.h` and
checks each declared function's return and parameter types, so the two cannot
drift apart: a wrong width, a missing argument or a pointer where the header
has an integer fails here instead of corrupting memory at run time. Standard
library only; no library or server needed.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(PKG_ROOT))
HEADER = os.path.join(REPO, "include", "browserbase.h")
sys.path.insert(0, PKG_ROOT)
from browserbase_c import _native  # noqa: E402

# Header functions the package deliberately does not call, with the reason.
NOT_WRAPPED = {}


def header_functions(path=HEADER):
    """{name: (return type, [parameter types])}, types as written in C."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^\s*#[^\n]*", " ", text, flags=re.M)
    text = text.replace('extern "C" {', " ")
    functions = {}
    for statement in text.split(";"):
        statement = " ".join(statement.split())
        if statement.startswith(("typedef", "extern")) or "{" in statement or "}" in statement:
            statement = statement.rsplit("}", 1)[-1].strip()
            if statement.startswith("typedef") or not statement:
                continue
        match = re.fullmatch(r"(.+?)\b(bb_\w+)\s*\((.*)\)", statement)
        if match is None:
            continue
        ret, name, params = match.groups()
        args = [] if params.strip() in ("", "void") else [p.strip() for p in params.split(",")]
        # Drop each parameter's name: the last identifier when it follows a
        # type (`const char *path` -> `const char *`).
        types = [re.sub(r"\s*\b\w+$", "", a) if re.search(r"[\w*]\s+\**\w+$", a) else a for a in args]
        functions[name] = (ret.strip(), [" ".join(t.replace("*", " * ").split()) for t in types])
    return functions


def c_kind(ctype):
    """What a C type is, as far as the calling convention cares."""
    t = ctype.replace("const ", "").replace("enum ", "").replace("struct ", "").strip()
    if t == "void":
        return "void"
    if t.endswith("*"):
        return "char*" if t == "char *" else "pointer"
    if t.endswith("_callback"):
        return "function"
    # Integers by what the calling convention sees: width and signedness.
    integers = {
        "int": ctypes.c_int,
        "bb_code": ctypes.c_int,  # a C enum: int-sized
        "bb_log_level": ctypes.c_int,
        "unsigned int": ctypes.c_uint,
        "uint32_t": ctypes.c_uint32,
        "int64_t": ctypes.c_int64,
        "uint64_t": ctypes.c_uint64,
        "size_t": ctypes.c_size_t,
    }
    if t in integers:
        return integer_kind(integers[t])
    return f"unknown C type {ctype!r}"


def integer_kind(t):
    signed = t(-1).value == -1
    return f"{'i' if signed else 'u'}{8 * ctypes.sizeof(t)}"


def ctypes_kind(t):
    if t is None:
        return "void"
    if t is ctypes.c_char_p:
        return "char*"
    if t is ctypes.c_void_p or (isinstance(t, type) and issubclass(t, ctypes._Pointer)):
        return "pointer"
    if isinstance(t, type) and issubclass(t, ctypes._CFuncPtr):
        return "function"
    if isinstance(t, type) and issubclass(t, ctypes._SimpleCData) and t._type_ in "bBhHiIlLqQ":
        return integer_kind(t)
    return f"unknown ctypes type {t!r}"


class PrototypesMatchTheHeader(unittest.TestCase):
    def setUp(self):
        self.header = header_functions()
        self.assertGreater(len(self.header), 40, "the header parser found too few functions")

    def test_every_header_function_is_declared_or_deliberately_left_out(self):
        missing = sorted(set(self.header) - set(_native.PROTOTYPES) - set(NOT_WRAPPED))
        self.assertEqual(missing, [], "header functions the package does not declare")

    def test_every_declared_function_exists_with_the_same_types(self):
        for name, (restype, argtypes) in _native.PROTOTYPES.items():
            with self.subTest(name):
                self.assertIn(name, self.header, "declared in the package, not in the header")
                ret, params = self.header[name]
                self.assertEqual(ctypes_kind(restype), c_kind(ret), f"return type ({ret})")
                self.assertEqual(
                    [ctypes_kind(a) for a in argtypes],
                    [c_kind(p) for p in params],
                    f"parameters ({', '.join(params)})",
                )

    def test_the_parser_reads_what_the_header_says(self):
        # A known declaration, parsed: guards the parser itself.
        ret, params = self.header["bb_download_session"]
        self.assertEqual(c_kind(ret), "i32")
        size_t = f"u{8 * ctypes.sizeof(ctypes.c_size_t)}"
        self.assertEqual([c_kind(p) for p in params], ["char*", "char*", "char*", "pointer"])
        ret, params = self.header["bb_buffer_free"]
        self.assertEqual((c_kind(ret), [c_kind(p) for p in params]), ("void", ["pointer", size_t]))


if __name__ == "__main__":
    unittest.main()
