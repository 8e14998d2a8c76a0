"""``codeprm locate SELECTOR``: where a selector points now, how sure codeprm is, and the
alternatives.

Thin: parse options, call ``Workbench.locate`` (``codeprm.selectors.resolve``), render. Positions
are printed
1-based in the ``--index-io`` unit (with ``-v`` also in utf-16 and codepoint); ``--json``
prints a bundle envelope whose ``resolution`` is the Resolution (0-based utf-16 ranges).

The texts selectors resolve against are kept in ``.codeprm/index/``
(``codeprm.workspace.textstore``), so a selector carrying ``?v=`` relocates in any later
call, in any process, after its file was edited.
"""

from __future__ import annotations

from pathlib import Path

import click

from codeprm.cli.call import echo
from codeprm.cli.options import index_io_option, json_option, verbose_option, workspace_option
from codeprm.selectors import format_range, preview
from codeprm.selectors.position_encoding import INDEX_IO, IndexIO


def default_root(start: Path | None = None) -> Path:
    """The git top level containing ``start`` (default: the current directory), else ``start``."""
    from codeprm.analysis.files import _exists

    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if _exists(candidate / ".git"):
            return candidate
    return here


@click.command("locate")
@click.argument("selector")
@workspace_option
@json_option
@index_io_option
@verbose_option
def locate_cmd(
    selector: str, workspace: Path | None, as_json: bool, index_io: IndexIO, verbose: bool
) -> None:
    """Resolve SELECTOR and show the range it names, a preview, the confidence and alternatives.

    \b
    Selectors (lines and columns 1-based, columns in --index-io units):
      src/app.py@L42:C7                 cursor
      src/app.py@R(42,7->44,1)          range (end exclusive)
      py://pkg.mod#Class.method:sig     symbol (roles def|sig|body|doc;
                                        ?overload=N, ?accessor=setter)
      ast://[module=pkg.mod]/[class=C]/[def=m]
      anchor://src/app.py#"def%20load_data("?ctx=24
    Any kind may end in ?v=<sha256 prefix> (or &v=...) of the text it was made against.
    """
    from codeprm.cli.call import current, workbench

    call = current()
    root = workspace if workspace is not None else default_root(call.directory())
    # lazy: an exact selector reads only its own file; relocation walks the workspace
    with workbench(root, server=False) as bench:
        located = bench.locate(selector, index_io, bundle=as_json)
    index, res = located.index, located.resolution
    f = index.file(res.path)
    assert f is not None  # resolve only returns paths of files it read through the index
    if as_json:
        from codeprm.cli.render import emit_json

        assert located.bundle is not None
        emit_json(located.bundle)
        return
    echo(f"{res.path}:{format_range(f.lines, res.range, index_io)}  ({index_io}, 1-based)")
    if verbose:
        for unit in INDEX_IO:
            if unit != index_io:
                echo(f"  {unit}: {format_range(f.lines, res.range, unit)}")
    echo(f"{res.kind}  confidence {res.confidence:.3f}  docVersion {res.version_check}")
    if res.symbol_id:
        echo(f"symbolId {res.symbol_id}")
    echo(preview(index, res, context_lines=1))
    alternatives = [c for c in res.candidates if (c.path, c.range) != (res.path, res.range)]
    if verbose and res.candidates:
        weights = ", ".join(f"{k} {w}" for k, w in res.weights.items())
        echo(f"weights: {weights}  threshold {res.threshold}")
        top = res.candidates[0]
        echo("features: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(top.features.items())))
    if alternatives:
        echo("alternatives:")
        for c in alternatives:
            other = index.file(c.path)
            where = format_range(other.lines, c.range, index_io) if other is not None else ""
            echo(f"  {c.score:.3f}  {c.label or c.path}  {c.path}:{where}")
