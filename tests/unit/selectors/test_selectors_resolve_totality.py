"""resolve() on any well-formed selector raises only codeprm errors, never a crash."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeprm.errors import CodeprmError
from codeprm.selectors import (
    INDEX_IO,
    AnchorSpec,
    AstPathSpec,
    AstStep,
    CursorSpec,
    IndexIO,
    PositionSpec,
    RangeSpec,
    SymbolSpec,
    WorkspaceIndex,
    doc_version,
    resolve,
)
from codeprm.selectors.spec import ACCESSORS

TEXTS = {
    "pkg/a.py": 'import os\n\n\nclass A:\n    """Doc \U0001f600."""\n\n    @property\n    def p(self): return 1\n\n    @p.setter\n    def p(self, v): pass\n\n    def m(self, x):\n        return x\n',
    "pkg/b.py": "from typing import overload\n@overload\ndef f(x: int) -> int: ...\n@overload\ndef f(x: str) -> str: ...\ndef f(x): return x\n\ndef m(y):\n    return y\r\n",
    "src/pkg/a.py": "def m(): pass\n",
    "notes.txt": "caf\u00e9 \U0001f600\n",
}
OLD = TEXTS["pkg/a.py"].replace("def m(self, x)", "def method(self, x)")

paths = st.sampled_from([*TEXTS, "missing.py", "pkg/missing.txt"])
small = st.integers(1, 16)
modules = st.sampled_from(["pkg.a", "pkg.b", "pkg", "nope"])
qualnames = st.one_of(
    st.none(), st.sampled_from(["A", "A.p", "A.m", "A.method", "f", "m", "zz", "A.p.q"])
)
versions = st.one_of(
    st.none(),
    st.just(doc_version(TEXTS["pkg/a.py"])),
    st.just(doc_version(OLD)),
    st.just("0123456789ab"),
)
cursors = st.builds(CursorSpec, paths, small, small, versions)
ranges = st.builds(
    lambda p, a, b, c, d, v: RangeSpec(
        p, *sorted([(a, b), (c, d)])[0], *sorted([(a, b), (c, d)])[1], v
    ),
    paths,
    small,
    small,
    small,
    small,
    versions,
)
symbols = st.builds(
    lambda mod, q, role, extra, v: SymbolSpec(
        mod,
        q,
        role,
        extra if q and isinstance(extra, int) else None,
        next((a for a in ACCESSORS if q and a == extra), None),
        v,
    ),
    modules,
    qualnames,
    st.sampled_from(["def", "sig", "body", "doc"]),
    st.one_of(st.none(), st.integers(1, 4), st.sampled_from(ACCESSORS)),
    versions,
)
asts = st.builds(
    lambda mod, rest, v: AstPathSpec((AstStep("module", mod), *rest), v),
    modules,
    st.lists(
        st.builds(
            AstStep, st.sampled_from(["class", "def"]), st.sampled_from(["A", "m", "p", "f", "x"])
        ),
        max_size=3,
    ).map(tuple),
    versions,
)
anchors = st.builds(
    AnchorSpec,
    paths,
    st.sampled_from(
        ["return", "def m(", "return x", "caf\u00e9", "\U0001f600", "retrun y", "class A:"]
    ),
    st.integers(0, 40),
    versions,
)
specs: st.SearchStrategy[PositionSpec] = st.one_of(cursors, ranges, symbols, asts, anchors)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs, st.sampled_from(INDEX_IO))
def test_resolve_is_total(spec: PositionSpec, unit: IndexIO) -> None:
    index = WorkspaceIndex.from_texts(TEXTS)
    index.remember("pkg/a.py", OLD)
    try:
        res = resolve(spec, index, index_io=unit)
    except CodeprmError as err:
        assert err.exit_code in (2, 3, 4, 10)
        return
    assert 0.0 <= res.confidence <= 1.0
    f = index.file(res.path)
    assert f is not None
    assert res.range.start <= res.range.end <= f.lines.end_position()
