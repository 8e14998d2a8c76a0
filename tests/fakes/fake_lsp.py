"""A tiny language server speaking real JSON-RPC framing, misbehaving on purpose.

Usage: python fake_lsp.py MODE. Modes:
  huge-length      answers initialize with a ``Content-Length: 99999999999`` header
  bad-initialize   answers initialize with a result that is not an InitializeResult
  bad-diagnostic   initializes normally, answers textDocument/diagnostic with garbage
  ok               a well-behaved minimal server (no diagnostics)
"""

from __future__ import annotations

import json
import sys

MODE = sys.argv[1] if len(sys.argv) > 1 else "ok"
IN, OUT = sys.stdin.buffer, sys.stdout.buffer


def read() -> dict | None:
    length = 0
    while True:
        line = IN.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(IN.read(length))


def send(message: dict, *, header: str | None = None) -> None:
    body = json.dumps(message).encode()
    OUT.write((header or f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    OUT.flush()


INIT = {
    "capabilities": {
        "textDocumentSync": 1,
        "diagnosticProvider": {"interFileDependencies": True, "workspaceDiagnostics": False},
        # it answers every request (with null): codeprm refuses, with 72, what a server does not offer
        "definitionProvider": True,
        "referencesProvider": True,
        "hoverProvider": True,
        "documentSymbolProvider": True,
        "renameProvider": True,
        "codeActionProvider": True,
    },
    "serverInfo": {"name": "fake", "version": "0"},
}

while (msg := read()) is not None:
    method, mid = msg.get("method"), msg.get("id")
    if mid is None:
        if method == "exit":
            break
        continue
    if method == "initialize":
        if MODE == "huge-length":
            send(
                {"jsonrpc": "2.0", "id": mid, "result": INIT},
                header="Content-Length: 99999999999\r\n\r\n",
            )
            sys.stdout.close()
            sys.stdin.read()
            break
        result = (
            {"capabilities": "not an object", "serverInfo": 7} if MODE == "bad-initialize" else INIT
        )
        send({"jsonrpc": "2.0", "id": mid, "result": result})
    elif method == "textDocument/diagnostic":
        result = (
            {"kind": 42, "items": "garbage"}
            if MODE == "bad-diagnostic"
            else {"kind": "full", "items": []}
        )
        send({"jsonrpc": "2.0", "id": mid, "result": result})
    else:
        send({"jsonrpc": "2.0", "id": mid, "result": None})
