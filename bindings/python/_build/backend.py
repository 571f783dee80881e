"""The package's PEP 517 build backend: standard library only, no network.

Builds the wheel (and the sdist) straight from the tree, writing nothing in
it: no ``build/``, no ``*.egg-info`` (what setuptools leaves behind).

The wheel is pure (``py3-none-any``) unless a ``libbrowserbase.so*`` was put
next to the package (``make python-wheel`` does, with the stripped library):
then it holds machine code and is tagged for this platform
(``py3-none-linux_x86_64``), so pip never installs it on another system.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import importlib.util
import io
import os
import re
import sysconfig
import tarfile
import zipfile
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "browserbase_c"

# Importing this module compiled it into _build/__pycache__ in the tree;
# take that away again (the tree stays as it was).
try:
    _cached = importlib.util.cache_from_source(os.path.abspath(__file__))
    os.unlink(_cached)
    os.rmdir(os.path.dirname(_cached))
except OSError:
    pass


def _project() -> Dict[str, object]:
    """The [project] table of pyproject.toml (tomllib, or the few simple
    keys this file uses on Pythons before 3.11)."""
    path = os.path.join(ROOT, "pyproject.toml")
    with open(path, "rb") as f:
        data = f.read()
    try:
        import tomllib  # type: ignore[import-not-found]
    except ImportError:
        tomllib = None
    if tomllib is not None:
        return tomllib.loads(data.decode())["project"]
    text = data.decode()
    project: Dict[str, object] = {}
    section = ""
    for line in text.splitlines():
        header = re.match(r"^\[(.+)\]\s*$", line)
        if header:
            section = header.group(1)
            continue
        item = re.match(r'^([A-Za-z0-9_.-]+)\s*=\s*"(.*)"\s*$', line)
        if section == "project" and item:
            project[item.group(1)] = item.group(2)
        elif section == "project.scripts" and item:
            project.setdefault("scripts", {})[item.group(1)] = item.group(2)  # type: ignore[index]
    classifiers = re.search(r"classifiers\s*=\s*\[(.*?)\]", text, re.S)
    if classifiers:
        project["classifiers"] = re.findall(r'"([^"]+)"', classifiers.group(1))
    project["license"] = {"text": re.search(r'license\s*=\s*\{\s*text\s*=\s*"([^"]*)"', text).group(1)}  # type: ignore[union-attr]
    return project


def _bundled_libraries() -> List[str]:
    return sorted(glob.glob(os.path.join(glob.escape(ROOT), PACKAGE, "libbrowserbase.so*")))


def _tag() -> Tuple[str, bool]:
    """The wheel's tag, and whether it is pure."""
    if _bundled_libraries():
        platform = re.sub(r"[^A-Za-z0-9]", "_", sysconfig.get_platform())
        return f"py3-none-{platform}", False
    return "py3-none-any", True


def _metadata(project: Dict[str, object]) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project['description']}",
        f"License: {project['license']['text']}",  # type: ignore[index]
        f"Requires-Python: {project['requires-python']}",
    ]
    lines += [f"Classifier: {c}" for c in project.get("classifiers", [])]  # type: ignore[union-attr]
    lines.append("Description-Content-Type: text/markdown")
    with open(os.path.join(ROOT, str(project["readme"])), encoding="utf-8") as f:
        readme = f.read()
    return "\n".join(lines) + "\n\n" + readme


def _package_files() -> List[str]:
    """Paths relative to ROOT of what the package ships."""
    files = []
    for name in sorted(os.listdir(os.path.join(ROOT, PACKAGE))):
        path = os.path.join(PACKAGE, name)
        if os.path.isfile(os.path.join(ROOT, path)) and (
            name.endswith(".py") or name == "py.typed" or name.startswith("libbrowserbase.so")
        ):
            files.append(path)
    return files


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(
    wheel_directory: str,
    config_settings: Optional[dict] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    project = _project()
    name, version = str(project["name"]), str(project["version"])
    tag, pure = _tag()
    filename = f"{name}-{version}-{tag}.whl"
    dist_info = f"{name}-{version}.dist-info"
    contents: List[Tuple[str, bytes, int]] = []
    for path in _package_files():
        with open(os.path.join(ROOT, path), "rb") as f:
            data = f.read()
        mode = 0o755 if path.split("/")[-1].startswith("libbrowserbase.so") else 0o644
        contents.append((path.replace(os.sep, "/"), data, mode))
    scripts = project.get("scripts", {})
    entry_points = "[console_scripts]\n" + "".join(
        f"{k} = {v}\n" for k, v in scripts.items()  # type: ignore[union-attr]
    )
    wheel = (
        "Wheel-Version: 1.0\nGenerator: browserbase_c _build/backend.py\n"
        f"Root-Is-Purelib: {'true' if pure else 'false'}\nTag: {tag}\n"
    )
    contents += [
        (f"{dist_info}/METADATA", _metadata(project).encode(), 0o644),
        (f"{dist_info}/WHEEL", wheel.encode(), 0o644),
        (f"{dist_info}/entry_points.txt", entry_points.encode(), 0o644),
    ]
    record = [_record_line(n, d) for n, d, _ in contents] + [f"{dist_info}/RECORD,,"]
    contents.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode(), 0o644))
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data, mode in contents:
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return filename


def build_sdist(sdist_directory: str, config_settings: Optional[dict] = None) -> str:
    project = _project()
    base = f"{project['name']}-{project['version']}"
    filename = f"{base}.tar.gz"
    members = ["pyproject.toml", "README.md", "_build/backend.py", *_package_files()]
    members = [m for m in members if not m.split("/")[-1].startswith("libbrowserbase.so")]
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        pkg_info = _metadata(project).encode()
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(pkg_info)
        tar.addfile(info, io.BytesIO(pkg_info))
        for member in members:
            tar.add(os.path.join(ROOT, member), arcname=f"{base}/{member}")
    return filename


def get_requires_for_build_wheel(config_settings: Optional[dict] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[dict] = None) -> List[str]:
    return []
