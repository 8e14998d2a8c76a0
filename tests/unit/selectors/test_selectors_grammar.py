"""Grammar: canonical round trips, syntax errors with columns, and totality on arbitrary text."""

from __future__ import annotations

import json
from typing import cast

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeprm.errors import SelectorSyntaxError, UsageError
from codeprm.selectors import (
    AnchorSpec,
    AstPathSpec,
    AstStep,
    CursorSpec,
    PositionSpec,
    RangeSpec,
    SymbolSpec,
    format_selector,
    parse_selector,
    spec_from_json,
    spec_json_schema,
)
from codeprm.selectors.spec import MAX_NUMBER

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies ---------------------------------------------------------------------------

_chars = st.characters(exclude_categories=("Cs",))
_segment = st.text(_chars, min_size=1, max_size=6).filter(
    lambda s: "/" not in s and s not in (".", "..")
)
paths = st.lists(_segment, min_size=1, max_size=3).map("/".join)
names = st.text(_chars, min_size=1, max_size=6).filter(lambda s: "." not in s)
dotted = st.lists(names, min_size=1, max_size=3).map(".".join)
numbers = st.one_of(st.integers(1, 200), st.integers(1, MAX_NUMBER))
versions = st.one_of(st.none(), st.text("0123456789abcdef", min_size=8, max_size=64))


@st.composite
def ranges(draw: st.DrawFn) -> RangeSpec:
    a = (draw(numbers), draw(numbers))
    b = (draw(numbers), draw(numbers))
    (sl, sc), (el, ec) = sorted([a, b])
    return RangeSpec(draw(paths), sl, sc, el, ec, draw(versions))


@st.composite
def symbols(draw: st.DrawFn) -> SymbolSpec:
    qualname = draw(st.one_of(st.none(), dotted))
    extra = draw(st.sampled_from(["none", "overload", "accessor"])) if qualname else "none"
    return SymbolSpec(
        draw(dotted),
        qualname,
        draw(st.sampled_from(["def", "sig", "body", "doc"])),
        draw(numbers) if extra == "overload" else None,
        draw(st.sampled_from(["getter", "setter", "deleter"])) if extra == "accessor" else None,
        draw(versions),
    )


asts = st.builds(
    lambda m, rest, v: AstPathSpec((AstStep("module", m), *rest), v),
    dotted,
    st.lists(st.builds(AstStep, st.sampled_from(["class", "def"]), names), max_size=3).map(tuple),
    versions,
)
anchors = st.builds(
    AnchorSpec, paths, st.text(_chars, min_size=1, max_size=20), st.integers(0, 1_000_000), versions
)
cursors = st.builds(CursorSpec, paths, numbers, numbers, versions)
specs: st.SearchStrategy[PositionSpec] = st.one_of(cursors, ranges(), symbols(), asts, anchors)


# -- examples ----------------------------------------------------------------------------

CANONICAL = [
    "src/app.py@L42:C7",
    "src/app.py@R(42,7->44,1)",
    "src/app.py@L1:C1?v=0123abcd",
    "py://pkg.mod#Class.method",
    "py://pkg.mod#Class.method:sig",
    "py://pkg.mod#f?overload=1",
    "py://pkg.mod#C.p:doc?accessor=setter&v=0123456789abcdef",
    "py://pkg.mod",
    "py://pkg.mod:doc",
    "ast://[module=pkg.mod]/[class=C]/[def=m]",
    "ast://[module=pkg.mod]?v=deadbeef",
    'anchor://src/app.py#"def%20load_data("?ctx=24',
    'anchor://src/app.py#"a%22b%25c%23d%3Fe%09f%0A"?ctx=0&v=deadbeef',
    'anchor://my%20dir/a%40b%23.py#"x"',
    "src/caf\u00e9/\U0001f600.py@L3:C2",
    "py://p%2Fq.r#a%3Ab",
]


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_strings_round_trip(text: str) -> None:
    assert format_selector(parse_selector(text)) == text


NORMALISED = [
    ("py://m#f:def", "py://m#f"),
    ('anchor://a.py#"def load(x)"', 'anchor://a.py#"def%20load(x)"'),
    ('anchor://a.py#"a#b?c"?ctx=32', 'anchor://a.py#"a%23b%3Fc"'),
    ("a.py@L1:C1?v=ABCDEF01", "a.py@L1:C1?v=abcdef01"),
    ("py://m#f?v=abcdef01&overload=2", "py://m#f?overload=2&v=abcdef01"),
    ("my dir/a.py@L1:C1", "my%20dir/a.py@L1:C1"),
    ("py://%6D#%66", "py://m#f"),
    ("a%2Fb.py@L1:C1", "a/b.py@L1:C1"),
]


@pytest.mark.parametrize(("text", "canonical"), NORMALISED)
def test_lenient_input_normalises(text: str, canonical: str) -> None:
    assert format_selector(parse_selector(text)) == canonical


# (selector, 1-based column of the error, a word of the expectation)
ERRORS = [
    ("", 1, "path"),
    ("src/app.py", 11, "@L"),
    ("src/app.py@L0:C1", 13, "positive"),
    ("src/app.py@L01:C1", 13, "positive"),
    ("src/app.py@L1C1", 14, ":C"),
    ("src/app.py@L1:C", 16, "positive"),
    ("src/app.py@R(3,1->2,1)", 19, "after the start"),
    ("src/app.py@R(1,1-2,1)", 17, "->"),
    ("src/app.py@R(1,1->2,1", 22, ")"),
    ("src/app.py@L1:C1x", 17, "'?'"),
    ("src/app.py@L1:C1?x=1", 18, "v"),
    ("src/app.py@L1:C1?v=1234", 20, "hex"),
    ("src/app.py@L1:C1?v=abcdef01&v=abcdef01", 29, "once"),
    ("src/app.py@L9999999999:C1", 13, "at most"),
    ("/abs.py@L1:C1", 1, "relative"),
    ("a/../b.py@L1:C1", 1, "normalised"),
    ("a//b.py@L1:C1", 1, "normalised"),
    ("a%2.py@L1:C1", 2, "hex"),
    ("a%FF.py@L1:C1", 2, "UTF-8"),
    ("a\tb.py@L1:C1", 2, "@L"),
    ("http://x", 1, "py://"),
    ("py://", 6, "module"),
    ("py://a..b", 8, "module"),
    ("py://a#", 8, "name"),
    ("py://a#b:zz", 10, "def"),
    ("py://a#b?overload=0", 19, "integer"),
    ("py://a#b?accessor=get", 19, "getter"),
    ("py://a#b?overload=1&accessor=setter", 9, "one of them"),
    ("py://a?overload=1", 7, "#Name"),
    ("py://a#b?ctx=3", 10, "overload"),
    ("py://a%2Eb", 6, "without '.'"),
    ("ast://", 7, "["),
    ("ast://[class=C]", 8, "module"),
    ("ast://[module=m]/[module=n]", 19, "class"),
    ("ast://[module=m]/[def=]", 23, "def name"),
    ("ast://[module=m]/[def=f", 24, "]"),
    ("anchor://a.py", 14, "#"),
    ("anchor://a.py#x", 15, '"'),
    ('anchor://a.py#""', 16, "character"),
    ('anchor://a.py#"abc', 19, '"'),
    ('anchor://a.py#"a\nb"', 17, '"'),
    ('anchor://a.py#"x"?ctx=-1', 23, "integer"),
    ('anchor://a.py#"x"?ctx=01', 23, "integer"),
    ('anchor://a.py#"x"?v=abcdefgh', 21, "hex"),
    ("x" * 9000, 8193, "at most"),
]


@pytest.mark.parametrize(("text", "column", "expected"), ERRORS)
def test_syntax_errors_name_a_column(text: str, column: int, expected: str) -> None:
    with pytest.raises(SelectorSyntaxError) as info:
        parse_selector(text)
    err = info.value
    assert (err.column, err.exit_code) == (column, 2), err.message
    assert expected in err.expected, err.expected
    assert err.details["selector"] == text


def test_surrogates_are_syntax_errors() -> None:
    for text in ("a\ud800.py@L1:C1", 'anchor://a.py#"\udfff"', "py://m#\ud83d"):
        with pytest.raises(SelectorSyntaxError):
            parse_selector(text)


def test_non_strings_are_type_errors() -> None:
    with pytest.raises(TypeError):
        parse_selector(cast(str, cast(object, 42)))


# -- properties --------------------------------------------------------------------------


@SETTINGS
@given(specs)
def test_format_then_parse_is_identity(spec: PositionSpec) -> None:
    text = format_selector(spec)
    assert parse_selector(text) == spec
    assert format_selector(parse_selector(text)) == text
    assert type(spec).from_json(spec.to_json()) == spec


_PREFIXES = st.sampled_from(
    [
        "",
        "py://",
        "py://a#",
        "ast://[module=",
        "ast://[module=m]/[",
        'anchor://a.py#"',
        "a.py@L",
        "a.py@R(",
        "a.py@L1:C1?",
        "a.py@L1:C1?v=",
        "%",
        "py://a#b?overload=",
    ]
)


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(st.text(max_size=60), st.builds(lambda p, t: p + t, _PREFIXES, st.text(max_size=40)))
)
def test_arbitrary_text_raises_only_syntax_errors(text: str) -> None:
    try:
        spec = parse_selector(text)
    except SelectorSyntaxError as err:
        assert 1 <= err.column <= max(1, len(text) + 1)
        return
    assert parse_selector(format_selector(spec)) == spec


_VALIDATOR = jsonschema.Draft202012Validator(spec_json_schema())


@SETTINGS
@given(specs)
def test_json_round_trip_and_schema(spec: PositionSpec) -> None:
    data = json.loads(json.dumps(spec.to_json()))
    _VALIDATOR.validate(data)
    assert spec_from_json(data) == spec


def test_schema_is_draft_2020_12_and_rejects_bad_specs() -> None:
    schema = spec_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    bad = [
        {"kind": "cursor", "path": "a.py", "line": 0, "column": 1},
        {"kind": "cursor", "path": "../a.py", "line": 1, "column": 1},
        {"kind": "symbol", "module": "a..b"},
        {"kind": "symbol", "module": "m", "role": "body", "extra": 1},
        {"kind": "ast", "steps": [{"kind": "class", "name": "C"}]},
        {"kind": "anchor", "path": "a.py", "snippet": ""},
        {"kind": "anchor", "path": "a.py", "snippet": "x", "docVersion": "XYZ"},
        {"kind": "teleport"},
    ]
    for data in bad:
        assert not validator.is_valid(data), data
        with pytest.raises(UsageError):
            spec_from_json(data)


def test_spec_from_json_accepts_omitted_optionals() -> None:
    assert spec_from_json({"kind": "symbol", "module": "m"}) == SymbolSpec("m")
    assert spec_from_json({"kind": "anchor", "path": "a.py", "snippet": "x"}) == AnchorSpec(
        "a.py", "x"
    )
    with pytest.raises(UsageError):
        spec_from_json(
            {
                "kind": "range",
                "path": "a.py",
                "start": {"line": 2, "column": 1},
                "end": {"line": 1, "column": 1},
            }
        )
    with pytest.raises(UsageError):
        spec_from_json(["not", "an", "object"])
