"""Resolve symbol (``py://``) and AST-path (``ast://``) selectors to definitions in an index.

A name is looked up in the file(s) of its module. Several definitions with one qualified
name form a group, narrowed in this order: property accessors (``accessor=``, default the
getter), ``@overload`` signatures (``overload=i`` is the i-th, 1-based; without it the
implementation), else ``overload=i`` is the i-th definition. One survivor is an exact
match (confidence 1). Several are scored (``codeprm.selectors.scoring``) and must have a
confident winner. None: the name is relocated among definitions with the same last name
anywhere in the workspace (and, when the docVersion's old text is known, among siblings of
the same kind, to follow renames), scored against what is known of the old element.
Pure: reads only the index.
"""

from __future__ import annotations

from dataclasses import dataclass

from codeprm.errors import NotFoundError
from codeprm.selectors.grammar import format_selector
from codeprm.selectors.index import IndexedFile, WorkspaceIndex
from codeprm.selectors.linemap import line_map
from codeprm.selectors.outline import Definition, Outline, Span
from codeprm.selectors.position_encoding import LineTable
from codeprm.selectors.result import Resolution, VersionCheck
from codeprm.selectors.scoring import TOP_K, Candidate, Reference, decide, exact, rank
from codeprm.selectors.spec import Accessor, AstPathSpec, CursorSpec, Role, SpecKind, SymbolSpec
from codeprm.selectors.tokens import token_set
from codeprm.selectors.versions import VersionState


@dataclass(frozen=True, slots=True)
class Target:
    """A symbol or AST-path request in one shape."""

    module: str
    qualname: str | None
    kinds: tuple[str, ...] | None  # required kind of each qualname segment (AST paths only)
    role: Role
    overload: int | None
    accessor: Accessor | None
    version: str | None

    @property
    def name(self) -> str:
        return (self.qualname or self.module).rpartition(".")[2]

    @property
    def parent(self) -> str:
        return (self.qualname or "").rpartition(".")[0]


def target_of(spec: SymbolSpec | AstPathSpec) -> Target:
    if isinstance(spec, SymbolSpec):
        return Target(
            spec.module, spec.qualname, None, spec.role, spec.overload, spec.accessor, spec.version
        )
    kinds = tuple("class" if s.kind == "class" else "function" for s in spec.steps[1:])
    return Target(spec.module, spec.qualname, kinds or None, "def", None, None, spec.version)


def role_span(d: Definition, role: Role) -> Span | None:
    if role == "sig":
        return d.sig
    if role == "body":
        return d.body
    if role == "doc":
        return d.doc
    return d.span


def definition_label(f: IndexedFile, i: int) -> str:
    """A selector naming definition ``i`` of ``f``: ``py://...`` when it can, else a cursor."""
    d = f.definitions[i]
    group = f.named(d.qualname)
    overload: int | None = None
    accessor: Accessor | None = None
    if d.accessor and d.accessor != "getter":
        accessor = d.accessor
    elif d.overload:
        overload = 1 + [j for j in group if f.definitions[j].overload].index(i)
    elif len(group) > 1 and not any(
        f.definitions[j].accessor or f.definitions[j].overload for j in group
    ):
        overload = 1 + group.index(i)
    try:
        if f.module is None:
            raise ValueError("no module name")
        return format_selector(SymbolSpec(f.module, d.qualname, "def", overload, accessor))
    except ValueError:
        pos = f.position(d.span[0])
        try:
            return format_selector(CursorSpec(f.path, pos.line + 1, pos.character + 1))
        except ValueError:
            return f"{f.path}:{pos.line + 1}:{pos.character + 1}"


def pick(defs: tuple[Definition, ...], group: list[int], t: Target, what: str) -> list[int]:
    """Narrow a group of same-named definitions by accessor / overload (see module doc)."""
    if t.kinds is not None:
        group = [i for i in group if defs[i].kinds == t.kinds]
    if not group:
        return []
    accessors = [i for i in group if defs[i].accessor]
    if t.accessor is not None or (accessors and t.overload is None):
        if not accessors:
            raise NotFoundError(f"{what}: {defs[group[0]].qualname} is not a property")
        want = t.accessor or "getter"
        picked = [i for i in accessors if defs[i].accessor == want]
        if not picked:
            raise NotFoundError(f"{what}: property {defs[group[0]].qualname} has no {want}")
        return picked
    overloads = [i for i in group if defs[i].overload]
    if overloads:
        if t.overload is not None:
            if t.overload > len(overloads):
                raise NotFoundError(
                    f"{what}: {defs[group[0]].qualname} has {len(overloads)} @overload signature(s)"
                )
            return [overloads[t.overload - 1]]
        return [i for i in group if not defs[i].overload] or overloads
    if t.overload is not None:
        if t.overload > len(group):
            raise NotFoundError(
                f"{what}: {defs[group[0]].qualname} is defined {len(group)} time(s), "
                f"not {t.overload}"
            )
        return [group[t.overload - 1]]
    return group


def _qual_tokens(qualname: str | None) -> frozenset[str]:
    return token_set((qualname or "").replace(".", " "))


def _header_tokens(text: str, d: Definition) -> frozenset[str]:
    raw = text.encode("utf-8", "surrogatepass")[d.sig[0] : d.sig[1]]
    return token_set(raw.decode("utf-8", "replace"))


def _old_definition(outline: Outline, t: Target, what: str) -> Definition | None:
    group = [i for i, d in enumerate(outline.definitions) if d.qualname == t.qualname]
    try:
        picked = pick(outline.definitions, group, t, what)
    except NotFoundError:
        return None
    return outline.definitions[picked[0]] if len(picked) == 1 else None


def reference_for(
    index: WorkspaceIndex, t: Target, files: tuple[IndexedFile, ...], ver: VersionState, what: str
) -> tuple[Reference, bool]:
    """What is known of the named element, and whether that includes its old header."""
    kind = t.kinds[-1] if t.kinds else None
    path = files[0].path if len(files) == 1 else None
    tokens = _qual_tokens(t.qualname)
    if ver.state == "history" and ver.old_text is not None and ver.old_path is not None:
        old = _old_definition(index.outline_for_text(ver.old_text), t, what)
        if old is not None:
            old_line = LineTable(ver.old_text).byte_to_position(old.span[0]).line
            current = index.get(ver.old_path)
            line = line_map(ver.old_text, current.text).approx(old_line) if current else None
            return (
                Reference(
                    old.kind,
                    t.module,
                    ver.old_path,
                    tokens | _header_tokens(ver.old_text, old),
                    line,
                ),
                True,
            )
    return Reference(kind, t.module, path, tokens), False


def _candidate(f: IndexedFile, i: int, t: Target, with_header: bool) -> Candidate | None:
    d = f.definitions[i]
    span = role_span(d, t.role)
    if span is None:
        return None
    tokens = _qual_tokens(d.qualname)
    if with_header:
        tokens |= _header_tokens(f.text, d)
    rng = f.range_of(span)
    return Candidate(
        f.path,
        f.module,
        d.kind,
        tokens,
        f.position(d.span[0]).line,
        rng,
        f.symbol_ids[i],
        definition_label(f, i),
    )


def _relocation_pool(
    index: WorkspaceIndex, t: Target, ref: Reference, with_header: bool, what: str
) -> list[tuple[IndexedFile, int]]:
    groups: dict[tuple[str, str], list[int]] = {}
    files: dict[str, IndexedFile] = {}
    for f, i in index.definitions_named(t.name):
        groups.setdefault((f.path, f.definitions[i].qualname), []).append(i)
        files[f.path] = f
    if with_header and ref.path is not None:
        f = index.get(ref.path)
        if f is not None:
            files[f.path] = f
            for i, d in enumerate(f.definitions):
                if d.kind == ref.kind and d.qualname.rpartition(".")[0] == t.parent:
                    groups.setdefault((f.path, d.qualname), []).append(i)
    loose = Target(t.module, t.qualname, None, t.role, t.overload, t.accessor, t.version)
    pool: list[tuple[IndexedFile, int]] = []
    for (path, _), group in sorted(groups.items()):
        f = files[path]
        try:
            chosen = pick(f.definitions, sorted(set(group)), loose, what)
        except NotFoundError:
            continue
        pool.extend((f, i) for i in chosen)
    return pool


def _module_resolution(
    t: Target, files: tuple[IndexedFile, ...], selector: str, kind: SpecKind, check: VersionCheck
) -> Resolution:
    if len(files) == 0:
        raise NotFoundError(f"{selector}: no module {t.module} in the workspace")
    if len(files) > 1:
        ranked = rank(
            Reference(None, t.module, None, frozenset()),
            [
                Candidate(
                    f.path,
                    f.module,
                    "module",
                    frozenset(),
                    0,
                    f.whole_range(),
                    f.module_symbol_id,
                    f.path,
                )
                for f in files
            ],
        )
        decide(ranked, what=selector)  # always a tie: raises AmbiguousError
    f = files[0]
    if t.role == "sig":
        raise NotFoundError(f"{selector}: a module has no signature (roles: def, body, doc)")
    if t.role == "doc":
        if f.outline is None or f.outline.module_doc is None:
            raise NotFoundError(f"{selector}: module {t.module} has no docstring")
        rng = f.range_of(f.outline.module_doc)
    else:
        rng = f.whole_range()
    return Resolution(
        selector,
        kind,
        f.path,
        rng,
        1.0,
        f.module_symbol_id,
        (exact(f.path, rng, f.module_symbol_id, selector),),
        version_check=check,
    )


def resolve_definition(
    index: WorkspaceIndex, t: Target, selector: str, kind: SpecKind, ver: VersionState
) -> Resolution:
    """Resolve a Target; raises NotFoundError / AmbiguousError (the caller maps version skew)."""
    files = index.files_for_module(t.module)
    check = ver.check_if_found
    if t.qualname is None:
        return _module_resolution(t, files, selector, kind, check)
    picked: list[tuple[IndexedFile, int]] = []
    for f in files:
        picked.extend((f, i) for i in pick(f.definitions, list(f.named(t.qualname)), t, selector))
    if len(picked) == 1:
        f, i = picked[0]
        span = role_span(f.definitions[i], t.role)
        if span is None:
            raise NotFoundError(f"{selector}: {t.qualname} has no docstring")
        rng = f.range_of(span)
        return Resolution(
            selector,
            kind,
            f.path,
            rng,
            1.0,
            f.symbol_ids[i],
            (exact(f.path, rng, f.symbol_ids[i], definition_label(f, i)),),
            version_check=check,
        )
    ref, with_header = reference_for(index, t, files, ver, selector)
    if not picked:
        picked = _relocation_pool(index, t, ref, with_header, selector)
    cands = [c for f, i in picked if (c := _candidate(f, i, t, with_header)) is not None]
    if not cands and picked and t.role == "doc":
        raise NotFoundError(f"{selector}: {t.qualname} has no docstring")
    ranked = rank(ref, cands)
    top = decide(ranked, what=selector)
    return Resolution(
        selector,
        kind,
        top.path,
        top.range,
        top.score,
        top.symbol_id,
        tuple(ranked[:TOP_K]),
        version_check=check,
    )
