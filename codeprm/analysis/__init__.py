"""Analysis over a live language-server session: navigation and diagnostics as bundles."""

from __future__ import annotations
