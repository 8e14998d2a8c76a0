"""The bundle of a selector resolution: tree-sitter's answer, with no server taking part."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys
import time
from pathlib import Path
from typing import Any

from codeprm.selectors import Resolution, WorkspaceIndex


def locate_bundle(index: WorkspaceIndex, res: Resolution, started: float) -> dict[str, Any]:
    """The envelope of a resolution: no server took part, tree-sitter did."""
    from codeprm.bundles import make_bundle
    from codeprm.bundles.environment import python_version, venv_of

    texts: dict[str, str] = {}
    for path in {res.path, *(c.path for c in res.candidates)}:
        f = index.file(path)
        if f is not None:
            texts[path] = f.text
    digest = hashlib.sha256()
    for path in sorted(texts):
        content = hashlib.sha256(texts[path].encode("utf-8", "surrogatepass")).hexdigest()
        digest.update(f"{path}\0{content}\n".encode())
    scoring = json.dumps({"threshold": res.threshold, "weights": res.weights}, sort_keys=True)
    try:
        ts_version = importlib.metadata.version("tree-sitter")
    except importlib.metadata.PackageNotFoundError:
        ts_version = "unknown"
    python = Path(sys.executable)
    return make_bundle(
        request={
            "operation": "locate",
            "workspaceDigest": "sha256:" + digest.hexdigest(),
            "targets": sorted(texts),
            "selector": res.selector,
            "params": {},
        },
        resolution=res.to_json(),
        facts={},
        environment={
            "codeprmVersion": _codeprm_version(),
            "server": {"name": "tree-sitter", "version": ts_version},
            "positionEncoding": "utf-16",
            "pythonExecutable": str(python),
            "pythonVersion": python_version(str(python)),
            "venv": venv_of(python),
            "configDigest": "sha256:" + hashlib.sha256(scoring.encode()).hexdigest(),
            "platform": _platform(),
        },
        capabilities={},
        meta={
            "durationMs": round((time.perf_counter() - started) * 1000, 3),
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "workspaceRoot": str(index.root),
        },
    )


def _codeprm_version() -> str:
    from codeprm import __version__

    return __version__


def _platform() -> str:
    import platform

    return f"{platform.system()}-{platform.machine()}"
