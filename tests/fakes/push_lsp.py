"""A language server that only pushes diagnostics, speaking real LSP over stdio.

Usage: python push_lsp.py MODE. It advertises no diagnosticProvider, so codeprm takes the
push path. Each published diagnostic's message names the text it was computed for.
  stale       on didChange, first publishes a stale result carrying the previous version,
              then (0.3 s later) the result for the version sent
  unversioned publishes without a version: once at once, and again 0.1 s later
It ignores ``exit`` (as TypeScript 7's server does): the client must kill it.
"""

from __future__ import annotations

import json
import sys
import threading
import time

MODE = sys.argv[1] if len(sys.argv) > 1 else "stale"
IN, OUT = sys.stdin.buffer, sys.stdout.buffer
LOCK = threading.Lock()


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


def send(message: dict) -> None:
    body = json.dumps(message).encode()
    with LOCK:
        OUT.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        OUT.flush()


def publish(uri: str, version: int | None, message: str) -> None:
    params: dict = {
        "uri": uri,
        "diagnostics": [
            {
                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
                "severity": 1,
                "source": "push",
                "message": message,
            }
        ],
    }
    if version is not None:
        params["version"] = version
    send({"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics", "params": params})


def later(delay: float, *args: object) -> None:
    def run() -> None:
        time.sleep(delay)
        publish(*args)  # type: ignore[arg-type]

    threading.Thread(target=run, daemon=True).start()


def on_text(uri: str, version: int, text: str, changed: bool) -> None:
    if MODE == "unversioned":
        publish(uri, None, f"early {text}")
        later(0.1, uri, None, f"text {text}")
    elif changed:
        publish(uri, version - 1, "stale")
        later(0.3, uri, version, f"text {text}")
    else:
        publish(uri, version, f"text {text}")


while (msg := read()) is not None:
    method, mid, params = msg.get("method"), msg.get("id"), msg.get("params") or {}
    if mid is not None and method is None:
        continue  # a reply to something we asked
    if method == "initialize":
        send(
            {
                "jsonrpc": "2.0",
                "id": mid,
                "result": {
                    "capabilities": {"textDocumentSync": 1},
                    "serverInfo": {"name": "push-fake", "version": "1"},
                },
            }
        )
    elif method == "shutdown":
        send({"jsonrpc": "2.0", "id": mid, "result": None})
    elif method == "textDocument/didOpen":
        doc = params["textDocument"]
        on_text(doc["uri"], doc["version"], doc["text"], False)
    elif method == "textDocument/didChange":
        doc = params["textDocument"]
        on_text(doc["uri"], doc["version"], params["contentChanges"][-1]["text"], True)
    elif mid is not None:
        send({"jsonrpc": "2.0", "id": mid, "result": None})
    # exit and every other notification: ignored (the process keeps running)
