"""The language-server layer: the only package that imports pygls or lsprotocol.

It converts everything to ``codeprm.types`` on the way out.
"""

from __future__ import annotations

from codeprm.lsp.facade import SyncSession
from codeprm.lsp.session import LspSession, ServerInfo, SessionConfig

__all__ = ["LspSession", "ServerInfo", "SessionConfig", "SyncSession"]
