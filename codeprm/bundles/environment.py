"""Environment capture for bundles: server, encoding, target python, config digest, platform."""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from codeprm import __version__


@functools.lru_cache(maxsize=8)
def python_version(python: str) -> str:
    """The version of the target interpreter (asked once per process)."""
    if Path(python) == Path(sys.executable):
        return platform.python_version()
    try:
        out = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def venv_of(python: Path) -> str | None:
    """The virtual environment the interpreter belongs to, if any."""
    for parent in python.parents:
        if (parent / "pyvenv.cfg").is_file():
            return str(parent)
    return None


def capture(
    *,
    server_name: str,
    server_version: str,
    position_encoding: str,
    python: Path,
    config_digest: str,
) -> dict[str, Any]:
    return {
        "codeprmVersion": __version__,
        "server": {"name": server_name, "version": server_version},
        "positionEncoding": position_encoding,
        "pythonExecutable": str(python),
        "pythonVersion": python_version(str(python)),
        "venv": venv_of(python),
        "configDigest": config_digest,
        "platform": f"{platform.system()}-{platform.machine()}",
    }
