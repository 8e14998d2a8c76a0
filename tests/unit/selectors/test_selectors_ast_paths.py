"""AST-path selectors whose module is a file path (TS/JS): grammar, JSON and resolution."""

from __future__ import annotations

import hashlib
import json

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeprm.errors import NotFoundError, SelectorSyntaxError, VersionSkewError
from codeprm.selectors import (
    AstPathSpec,
    AstStep,
    WorkspaceIndex,
    format_selector,
    parse_selector,
    resolve,
    spec_from_json,
    spec_json_schema,
)
from codeprm.selectors.spec import MODULE_PATH_SUFFIXES, module_is_path

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CANONICAL = [
    "ast://[module=src/api/client.ts]/[class=Client]/[def=fetch]",
    "ast://[module=src/money.ts]/[def=add]",
    "ast://[module=src/money.ts]",
    "ast://[module=money.ts]/[def=add]?v=deadbeef",
    "ast://[module=web/App.tsx]/[def=App]",
    "ast://[module=lib/util.mjs]/[def=f]",
    "ast://[module=my%20dir/a%5Bb%5D.js]/[class=C]",
    "ast://[module=src/v1.2/x.ts]/[def=f]",
    "ast://[module=src/pkg/mod.py]/[class=C]/[def=m]",
]


@pytest.mark.parametrize("text", CANONICAL)
def test_path_modules_round_trip(text: str) -> None:
    spec = parse_selector(text)
    assert isinstance(spec, AstPathSpec)
    assert module_is_path(spec.module)
    assert format_selector(spec) == text


def test_the_path_keeps_slashes_and_dots_and_names_stay_names() -> None:
    spec = parse_selector("ast://[module=src/api/client.ts]/[class=Client]/[def=fetch]")
    assert spec == AstPathSpec(
        (
            AstStep("module", "src/api/client.ts"),
            AstStep("class", "Client"),
            AstStep("def", "fetch"),
        )
    )
    assert isinstance(spec, AstPathSpec) and spec.qualname == "Client.fetch"
    # an escaped '/' is the same path, printed in the canonical (literal) form
    escaped = parse_selector("ast://[module=src%2Fmoney.ts]/[def=add]")
    assert format_selector(escaped) == "ast://[module=src/money.ts]/[def=add]"


# Python forms: parsed as before, printed byte-identically (no '/', no TS/JS suffix).
PYTHON = [
    "ast://[module=pkg.mod]/[class=C]/[def=m]",
    "ast://[module=pkg.mod]?v=deadbeef",
    "ast://[module=m]",
    "ast://[module=pkg.tsx_helpers]/[def=f]",
    "ast://[module=a%3Ab.c]/[def=f]",
    "ast://[module=%2Fx.ts]",  # not a valid path: stays a dotted Python name
]


@pytest.mark.parametrize("text", PYTHON)
def test_python_modules_are_unchanged(text: str) -> None:
    spec = parse_selector(text)
    assert isinstance(spec, AstPathSpec)
    assert not module_is_path(spec.module)
    assert format_selector(spec) == text


@pytest.mark.parametrize(
    "text",
    [
        "ast://[module=src/../x.ts]",
        "ast://[module=src//x.ts]/[def=f]",
        "ast://[module=src/x.ts]/[module=y]",
        "ast://[module=src/x.ts]/[def=a.b]",
        "ast://[module=src/a b.ts]",
    ],
)
def test_bad_path_modules_are_syntax_errors(text: str) -> None:
    with pytest.raises(SelectorSyntaxError) as err:
        parse_selector(text)
    assert 1 <= err.value.column <= len(text) + 1


def test_module_is_path() -> None:
    assert all(module_is_path("x" + s) for s in MODULE_PATH_SUFFIXES)
    assert module_is_path("src/mod.py")
    assert not module_is_path("pkg.mod")
    assert not module_is_path("mod.py")
    assert not module_is_path("/abs/x.ts")
    assert not module_is_path("a/../x.ts")


_seg = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=5).filter(
    lambda s: "/" not in s and s not in (".", "..")
)
_paths = st.builds(
    lambda dirs, stem, suffix: "/".join([*dirs, stem + suffix]),
    st.lists(_seg, max_size=2),
    _seg,
    st.sampled_from([*MODULE_PATH_SUFFIXES, "", ".py"]),
).filter(module_is_path)
_names = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=5).filter(
    lambda s: "." not in s
)
path_asts = st.builds(
    lambda m, rest, v: AstPathSpec((AstStep("module", m), *rest), v),
    _paths,
    st.lists(st.builds(AstStep, st.sampled_from(["class", "def"]), _names), max_size=3).map(tuple),
    st.one_of(st.none(), st.text("0123456789abcdef", min_size=8, max_size=64)),
)
_VALIDATOR = jsonschema.Draft202012Validator(spec_json_schema())


@SETTINGS
@given(path_asts)
def test_path_specs_round_trip_through_text_and_json(spec: AstPathSpec) -> None:
    text = format_selector(spec)
    assert parse_selector(text) == spec
    assert format_selector(parse_selector(text)) == text
    data = json.loads(json.dumps(spec.to_json()))
    _VALIDATOR.validate(data)
    assert spec_from_json(data) == spec


# -- resolution -----------------------------------------------------------------------

CLIENT = """\
import { get } from "./http";

export class Client {
  constructor(private base: string) {}

  async fetch(path: string): Promise<string> {
    return get(this.base + path);
  }
}

export function fetch(url: string): Promise<string> {
  return get(url);
}

export const helper = (x: number): number => x + 1;
"""
PY = "class C:\n    def m(self):\n        return 1\n"


@pytest.fixture
def index() -> WorkspaceIndex:
    return WorkspaceIndex.from_texts({"src/api/client.ts": CLIENT, "pkg/mod.py": PY})


def _lines(index: WorkspaceIndex, selector: str) -> tuple[int, int]:
    r = resolve(selector, index)
    return r.range.start.line + 1, r.range.end.line + 1


def test_resolves_a_method_a_function_and_a_const_function(index: WorkspaceIndex) -> None:
    r = resolve("ast://[module=src/api/client.ts]/[class=Client]/[def=fetch]", index)
    assert (r.kind, r.path, r.confidence) == ("ast", "src/api/client.ts", 1.0)
    assert r.symbol_id == "src/api/client.ts#Client.fetch"
    assert (r.range.start.line + 1, r.range.end.line + 1) == (6, 8)
    assert r.range.start.character == 2
    assert _lines(index, "ast://[module=src/api/client.ts]/[def=fetch]") == (11, 13)
    assert _lines(index, "ast://[module=src/api/client.ts]/[def=helper]") == (15, 15)
    assert _lines(index, "ast://[module=src/api/client.ts]/[class=Client]") == (3, 9)
    whole = resolve("ast://[module=src/api/client.ts]", index)
    assert whole.range.start.line == 0 and whole.range.end.line == CLIENT.count("\n")


def test_step_kinds_must_match(index: WorkspaceIndex) -> None:
    with pytest.raises(NotFoundError, match=r"did you mean \[class=Client\]"):
        resolve("ast://[module=src/api/client.ts]/[def=Client]", index)
    with pytest.raises(NotFoundError):
        resolve("ast://[module=src/api/client.ts]/[class=fetch]", index)
    with pytest.raises(NotFoundError, match="no such file"):
        resolve("ast://[module=src/api/nope.ts]/[def=fetch]", index)


def test_doc_version_must_be_the_current_text(index: WorkspaceIndex) -> None:
    sha = hashlib.sha256(CLIENT.encode()).hexdigest()
    ok = resolve(f"ast://[module=src/api/client.ts]/[def=fetch]?v={sha[:12]}", index)
    assert ok.version_check == "current"
    with pytest.raises(VersionSkewError):
        resolve("ast://[module=src/api/client.ts]/[def=fetch]?v=00000000", index)


def test_python_file_by_path_matches_the_dotted_form(index: WorkspaceIndex) -> None:
    by_path = resolve("ast://[module=pkg/mod.py]/[class=C]/[def=m]", index)
    dotted = resolve("ast://[module=pkg.mod]/[class=C]/[def=m]", index)
    assert by_path.range == dotted.range
    assert by_path.path == dotted.path == "pkg/mod.py"
