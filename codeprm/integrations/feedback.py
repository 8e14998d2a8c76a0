"""What a model is told after a turn of an episode (SkyRL observations, tool responses)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def observation(result: Mapping[str, Any]) -> str:
    """What the model is told after a turn."""
    if result.get("status") != "ok":
        return (
            f"codeprm: the edit was not scored ({result.get('status')}): {result.get('error', '')}"
        ).strip()
    bundle = result.get("bundle") or {}
    facts = bundle.get("facts", {})
    introduced, fixed = facts.get("introduced", []), facts.get("fixed", [])
    lines = [
        f"codeprm: reward {float(result['reward']):+.3f}; {len(fixed)} diagnostic(s) "
        f"fixed, {len(introduced)} introduced."
    ]
    for d in introduced[:5]:
        diag = d.get("diagnostic", d)
        start = diag.get("range", {}).get("start", {})
        lines.append(
            f"- {diag.get('path', '?')}:{int(start.get('line', 0)) + 1}: {diag.get('message', '')}"
        )
    return "\n".join(lines)
