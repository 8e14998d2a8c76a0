"""Moved to ``codeprm.agents.daemonwire`` (the daemon is library code); this name stays for
callers."""

from __future__ import annotations

import sys

from codeprm.agents import daemonwire as _wire

sys.modules[__name__] = _wire
