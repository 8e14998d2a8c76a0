"""Loading the learned PRM for ``--prm`` (torch only when asked).

Nothing is cached here: a Workbench keeps the scorer it loaded for as long as it lives
(a daemon or MCP server keeps the model warm between calls through its Workbench).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from codeprm.errors import NotFoundError, UsageError


def load_prm(choice: str, device: str) -> tuple[Any, str | None]:
    """The scorer for --prm (auto: the fetched default when torch and it are present)."""
    if choice == "none":
        return None, "disabled (--prm none)"
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        if choice == "auto":
            return None, "torch/transformers not installed"
        raise UsageError("--prm needs torch and transformers: pip install 'codeprm[prm]' torch==2.13.0")
    from codeprm.prm import load_scorer

    try:
        scorer = load_scorer(None if choice in ("auto", "default") else choice, device)
    except NotFoundError as err:
        if choice == "auto":
            return None, err.one_line()
        raise
    return scorer, None


def prm_key(choice: str, device: str) -> tuple[str, str]:
    """Which loaded scorer a choice names (auto and default are the same checkpoint)."""
    return (choice if choice not in ("auto", "default") else "default", device)
