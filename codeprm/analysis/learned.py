"""Loading the learned PRM for the commands, once per process (torch only when asked)."""

from __future__ import annotations

import importlib.util
from typing import Any

from codeprm.errors import NotFoundError, UsageError

_LOADED: dict[tuple[str, str], Any] = {}


def load_prm(choice: str, device: str) -> tuple[Any, str | None]:
    """The scorer for --prm (auto: the fetched default when torch and it are present)."""
    if choice == "none":
        return None, "disabled (--prm none)"
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        if choice == "auto":
            return None, "torch/transformers not installed"
        raise UsageError("--prm needs torch and transformers: pip install 'codeprm[prm]' torch==2.13.0")
    from codeprm.prm import load_scorer

    key = (choice if choice not in ("auto", "default") else "default", device)
    if key in _LOADED:
        return _LOADED[key], None
    try:
        scorer = load_scorer(None if choice in ("auto", "default") else choice, device)
    except NotFoundError as err:
        if choice == "auto":
            return None, err.one_line()
        raise
    _LOADED[key] = scorer  # a daemon or MCP server keeps the model loaded between calls
    return scorer, None


