"""``import selectors`` must stay the standard library's: codeprm.selectors never shadows it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import codeprm.selectors


def test_stdlib_selectors_is_not_shadowed() -> None:
    import selectors

    assert hasattr(selectors, "DefaultSelector")
    assert "codeprm" not in Path(selectors.__file__).parts
    assert selectors is not codeprm.selectors


def test_asyncio_still_imports_after_codeprm_selectors() -> None:
    code = "import codeprm.selectors, asyncio, selectors; print(selectors.DefaultSelector.__name__)"
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().endswith("Selector")
