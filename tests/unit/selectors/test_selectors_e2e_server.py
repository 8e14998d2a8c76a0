"""e2e: our utf-16 positions agree with the real basedpyright server's on non-ASCII text.

Starts ``basedpyright-langserver --stdio`` through a minimal JSON-RPC client (the real
LSP stack lives in ``codeprm.lsp``; this test must not depend on it), asks for
hierarchical document symbols, and compares every name's selectionRange with the position codeprm computes
from tree-sitter byte offsets (definitions) or from an anchor (variables).
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from codeprm.selectors import WorkspaceIndex, resolve
from codeprm.types import Position

pytestmark = pytest.mark.e2e

TEXT = (
    's = "\U0001f600\U0001d518"; t = 1\n'
    "class Caf\u00e9:\n"
    '    def se\u00f1al(self, v="\U0001f600"): w = "\U0001d51e\u00e9"; return w\n'
    '\u4e2d = "e\u0301"; \U00020000x = 2\n'
)


def _server() -> str | None:
    local = Path(sys.executable).with_name("basedpyright-langserver")
    return str(local) if local.exists() else shutil.which("basedpyright-langserver")


class _Client:
    """The smallest stdio JSON-RPC client that can talk to a language server."""

    def __init__(self, command: list[str]) -> None:
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = 0
            while (line := out.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                return
            self.inbox.put(json.loads(out.read(length)))

    def send(self, msg: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **msg}).encode()
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stdin.flush()

    def request(self, ident: int, method: str, params: Any) -> Any:
        self.send({"id": ident, "method": method, "params": params})
        while True:
            msg = self.inbox.get(timeout=60)
            if "method" in msg and "id" in msg:  # a request from the server: answer blandly
                items = (msg.get("params") or {}).get("items")
                self.send({"id": msg["id"], "result": [None] * len(items) if items else None})
            elif msg.get("id") == ident:
                return msg.get("result")

    def close(self) -> None:
        try:
            self.request(999, "shutdown", None)
            self.send({"method": "exit", "params": None})
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def _flatten(symbols: list[dict[str, Any]]) -> dict[str, Position]:
    out: dict[str, Position] = {}
    for sym in symbols:
        out[sym["name"]] = Position.from_json(sym["selectionRange"]["start"])
        out.update(_flatten(sym.get("children", [])))
    return out


def test_positions_agree_with_basedpyright(tmp_path: Path) -> None:
    server = _server()
    if server is None:
        pytest.skip("basedpyright-langserver not installed")
    path = tmp_path / "m.py"
    path.write_text(TEXT, encoding="utf-8")
    uri = path.as_uri()
    caps = {"textDocument": {"documentSymbol": {"hierarchicalDocumentSymbolSupport": True}}}
    client = _Client([server, "--stdio"])
    try:
        init = client.request(
            1,
            "initialize",
            {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": caps},
        )
        assert init["capabilities"].get("positionEncoding", "utf-16") == "utf-16"
        client.send({"method": "initialized", "params": {}})
        doc = {"uri": uri, "languageId": "python", "version": 1, "text": TEXT}
        client.send({"method": "textDocument/didOpen", "params": {"textDocument": doc}})
        symbols = client.request(2, "textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    finally:
        client.close()
    server_names = _flatten(symbols)

    index = WorkspaceIndex(tmp_path)
    f = index.get("m.py")
    assert f is not None
    ours = {d.name: f.position(d.name_span[0]) for d in f.definitions}
    assert ours == {"Caf\u00e9": Position(1, 6), "se\u00f1al": Position(2, 8)}
    for name, pos in ours.items():
        assert server_names[name] == pos, name
    for name, snippet in [
        ("t", "t = 1"),
        ("w", "w = "),
        ("v", 'v="'),
        ("\U00020000x", "\U00020000x = 2"),
        ("\u4e2d", "\u4e2d = "),
    ]:
        start = resolve(
            f'anchor://m.py#"{snippet.replace(" ", "%20").replace(chr(34), "%22")}"', index
        ).range.start
        assert server_names[name] == start, name
