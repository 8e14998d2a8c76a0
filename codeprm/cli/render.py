"""Rendering bundles for people (rich) and machines (canonical JSON on stdout)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codeprm.bundles import encode
from codeprm.cli import call

Convert = Callable[[str, dict[str, int]], tuple[int, int]]


def emit_json(bundle: dict[str, Any]) -> None:
    """The bundle as canonical JSON, one line on the invocation's stdout."""
    call.emit_bytes(encode(bundle) + b"\n")


def console() -> Any:
    """A rich Console on the invocation's stdout."""
    return call.console(highlight=False, soft_wrap=True)


def _utf16(path: str, pos: dict[str, int]) -> tuple[int, int]:
    return pos["line"] + 1, pos["character"] + 1


def where(path: str, pos: dict[str, int], convert: Convert | None = None) -> str:
    line, col = (convert or _utf16)(path, pos)
    return f"{path}:{line}:{col}"


def render_locations(bundle: dict[str, Any], convert: Convert | None = None) -> None:
    out = console()
    locs = bundle["facts"].get("locations", [])
    if not locs:
        out.print("[dim]no locations[/dim]")
    for loc in locs:
        out.print(where(loc["path"], loc["range"]["start"], convert), markup=False)


def render_hover(bundle: dict[str, Any], convert: Convert | None = None) -> None:
    out = console()
    hover = bundle["facts"].get("hover")
    if not hover:
        out.print("[dim]no hover information[/dim]")
        return
    from rich.markdown import Markdown

    out.print(Markdown(hover["contents"]))


def render_symbols(bundle: dict[str, Any], convert: Convert | None = None) -> None:
    out = console()
    path = bundle["request"]["targets"][0]

    def walk(symbols: list[dict[str, Any]], depth: int) -> None:
        for s in symbols:
            out.print(
                f"{'  ' * depth}{s['kind']:<10} {s['name']}  "
                f"[dim]{where(path, s['selectionRange']['start'], convert)}[/dim]"
            )
            walk(s["children"], depth + 1)

    walk(bundle["facts"].get("symbols", []), 0)


_STYLE = {"error": "bold red", "warning": "yellow", "information": "cyan"}


def render_diagnostics(bundle: dict[str, Any], convert: Convert | None = None) -> None:
    out = console()
    facts = bundle["facts"]
    for d in facts["diagnostics"]:
        code = f" [dim]\\[{d['code']}][/dim]" if d.get("code") else ""
        loc = where(d["path"], d["range"]["start"], convert)
        out.print(f"{loc}: [{_STYLE[d['severity']]}]{d['severity']}[/]: ", end="")
        out.print(d["message"], markup=False, end="")
        out.print(code)
    c = facts["counts"]
    out.print(
        f"{len(facts['files'])} file(s): {c['error']} error(s), {c['warning']} "
        f"warning(s), {c['information']} information"
    )


def render_step(bundle: dict[str, Any], *, applied: bool = False) -> None:
    out = console()
    facts, reward = bundle["facts"], bundle["processReward"]
    for kind, style in (("introduced", "red"), ("fixed", "green")):
        for d in facts[kind]:
            sign = "+" if kind == "introduced" else "-"
            out.print(
                f"[{style}]{sign} {d['severity']}[/{style}] "
                f"{where(d['path'], d['range']['start'])}: ",
                end="",
            )
            out.print(d["message"], markup=False)
    b, a = facts["before"]["counts"], facts["after"]["counts"]
    out.print(
        f"covered {len(facts['covered'])} file(s): errors {b['error']} -> {a['error']}, "
        f"warnings {b['warning']} -> {a['warning']}"
    )
    if not facts["safety"]["passed"]:
        out.print("[red]unsafe:[/red] ", end="")
        out.print("; ".join(facts["safety"]["reasons"].values()), markup=False)
    parts = ", ".join(f"{k} {v:+g}" for k, v in reward["components"].items())
    out.print(f"reward [bold]{reward['total']:+g}[/bold] ({reward['formula']['name']}: {parts})")
    out.print(
        "applied" if applied else "[dim]preview only: nothing written (use --apply to write)[/dim]"
    )
