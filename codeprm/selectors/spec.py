"""PositionSpec: the structured form of a selector, a tagged union of frozen dataclasses.

Every spec round-trips with its canonical selector string (``codeprm.selectors.grammar``:
``parse_selector``/``format_selector``) and with JSON (``to_json``/``from_json``), whose JSON Schema
is
``spec_json_schema()``. Numbers keep the selector's convention: lines and columns are
1-based and columns count in the ``--index-io`` unit chosen when resolving; ``overload``
is 1-based too. ``version`` (JSON ``docVersion``) is a lowercase hex prefix (8..64
characters) of the sha256 of the file text the selector was made against.

Constructors validate and raise ``ValueError``; ``spec_from_json`` raises
``codeprm.errors.UsageError``. No IO, no tree-sitter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from codeprm.errors import UsageError

Role = Literal["def", "sig", "body", "doc"]
ROLES: tuple[Role, ...] = ("def", "sig", "body", "doc")
Accessor = Literal["getter", "setter", "deleter"]
ACCESSORS: tuple[Accessor, ...] = ("getter", "setter", "deleter")
AstKind = Literal["module", "class", "def"]
AST_KINDS: tuple[AstKind, ...] = ("module", "class", "def")
SpecKind = Literal["cursor", "range", "symbol", "ast", "anchor"]
SPEC_KINDS: tuple[SpecKind, ...] = ("cursor", "range", "symbol", "ast", "anchor")

#: Largest line, column or overload number a selector may carry.
MAX_NUMBER = 999_999_999
#: Largest ``ctx`` of an anchor.
MAX_CTX = 1_000_000
#: ``ctx`` of an anchor when the selector does not say (omitted from canonical strings).
DEFAULT_CTX = 32
VERSION_RE = re.compile(r"[0-9a-f]{8,64}")
SCHEMA_ID = "urn:codeprm:schema:position-spec:1"


def _encodable(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"{what} contains a lone surrogate") from err


def check_path(path: str) -> None:
    """A workspace-relative POSIX path: no leading '/', no empty, '.' or '..' segments."""
    if not isinstance(path, str) or not path:
        raise ValueError("path must be a non-empty string")
    _encodable(path, "path")
    if path.startswith("/"):
        raise ValueError("path must be relative to the workspace (no leading '/')")
    for seg in path.split("/"):
        if seg in ("", ".", ".."):
            raise ValueError(f"path segment {seg!r} is not allowed (paths are normalised)")


def check_name(name: str, what: str = "name") -> None:
    """One segment of a dotted name: non-empty, without '.'."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string")
    if "." in name:
        raise ValueError(f"{what} {name!r} contains '.'")
    _encodable(name, what)


def check_dotted(dotted: str, what: str) -> None:
    if not isinstance(dotted, str) or not dotted:
        raise ValueError(f"{what} must be a non-empty string")
    for seg in dotted.split("."):
        check_name(seg, f"{what} segment")


#: Suffixes that make an AST path's ``[module=...]`` a workspace-relative file path by
#: themselves (a name with a '/' is a path too): TypeScript and JavaScript files.
MODULE_PATH_SUFFIXES = (".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")


def module_is_path(name: str) -> bool:
    """Whether an AST path's module step names a file by path (``src/api/client.ts``).

    True for a valid workspace-relative path that contains '/' or ends in a TS/JS suffix;
    everything else is a dotted Python module name, as before paths were allowed.
    """
    if not isinstance(name, str) or ("/" not in name and not name.endswith(MODULE_PATH_SUFFIXES)):
        return False
    try:
        check_path(name)
    except ValueError:
        return False
    return True


def _check_number(value: int, what: str, *, low: int = 1, high: int = MAX_NUMBER) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer in {low}..{high}")


def check_version(version: str | None) -> None:
    if version is not None and (not isinstance(version, str) or not VERSION_RE.fullmatch(version)):
        raise ValueError("docVersion must be 8 to 64 lowercase hex digits")


@dataclass(frozen=True, slots=True)
class CursorSpec:
    """``PATH@L<line>:C<column>``: one position (1-based line and column)."""

    path: str
    line: int
    column: int
    version: str | None = None
    kind: ClassVar[SpecKind] = "cursor"

    def __post_init__(self) -> None:
        check_path(self.path)
        _check_number(self.line, "line")
        _check_number(self.column, "column")
        check_version(self.version)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CursorSpec:
        """The spec of ``data``; ``UsageError`` if it is not a valid cursor spec."""
        return _expect(cls, spec_from_json(data))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "docVersion": self.version,
        }


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """``PATH@R(<l>,<c>-><l>,<c>)``: a range, 1-based, end exclusive (as in LSP)."""

    path: str
    start_line: int
    start_column: int
    end_line: int
    end_column: int
    version: str | None = None
    kind: ClassVar[SpecKind] = "range"

    def __post_init__(self) -> None:
        check_path(self.path)
        _check_number(self.start_line, "start line")
        _check_number(self.start_column, "start column")
        _check_number(self.end_line, "end line")
        _check_number(self.end_column, "end column")
        if (self.end_line, self.end_column) < (self.start_line, self.start_column):
            raise ValueError("range end is before its start")
        check_version(self.version)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RangeSpec:
        """The spec of ``data``; ``UsageError`` if it is not a valid range spec."""
        return _expect(cls, spec_from_json(data))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "start": {"line": self.start_line, "column": self.start_column},
            "end": {"line": self.end_line, "column": self.end_column},
            "docVersion": self.version,
        }


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """``py://module#Qual.name:role?overload=i|accessor=a``; ``qualname=None`` is the module."""

    module: str
    qualname: str | None = None
    role: Role = "def"
    overload: int | None = None
    accessor: Accessor | None = None
    version: str | None = None
    kind: ClassVar[SpecKind] = "symbol"

    def __post_init__(self) -> None:
        check_dotted(self.module, "module")
        if self.qualname is not None:
            check_dotted(self.qualname, "qualified name")
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if self.overload is not None:
            _check_number(self.overload, "overload")
        if self.accessor is not None and self.accessor not in ACCESSORS:
            raise ValueError(f"accessor must be one of {', '.join(ACCESSORS)}")
        if self.overload is not None and self.accessor is not None:
            raise ValueError("overload and accessor cannot be combined")
        if self.qualname is None and (self.overload is not None or self.accessor is not None):
            raise ValueError("overload and accessor need a qualified name")
        check_version(self.version)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SymbolSpec:
        """The spec of ``data``; ``UsageError`` if it is not a valid symbol spec."""
        return _expect(cls, spec_from_json(data))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "module": self.module,
            "qualname": self.qualname,
            "role": self.role,
            "overload": self.overload,
            "accessor": self.accessor,
            "docVersion": self.version,
        }


@dataclass(frozen=True, slots=True)
class AstStep:
    """One ``[kind=name]`` step of an AST path."""

    kind: AstKind
    name: str

    def __post_init__(self) -> None:
        if self.kind not in AST_KINDS:
            raise ValueError(f"AST step kind must be one of {', '.join(AST_KINDS)}")
        if self.kind == "module":
            if not module_is_path(self.name):
                check_dotted(self.name, "module")
        else:
            check_name(self.name, f"{self.kind} name")

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name}


@dataclass(frozen=True, slots=True)
class AstPathSpec:
    """``ast://[module=m]/[class=C]/[def=f]``: a module then nested class/def steps.

    The module is a dotted Python name, or a workspace-relative file path
    (``module_is_path``: ``src/api/client.ts``) resolved through that file's outline.
    """

    steps: tuple[AstStep, ...]
    version: str | None = None
    kind: ClassVar[SpecKind] = "ast"

    def __post_init__(self) -> None:
        if not isinstance(self.steps, tuple) or not self.steps:
            raise ValueError("an AST path needs at least one step")
        if self.steps[0].kind != "module":
            raise ValueError("an AST path starts with a [module=...] step")
        if any(step.kind == "module" for step in self.steps[1:]):
            raise ValueError("only the first AST step may be a module")
        check_version(self.version)

    @property
    def module(self) -> str:
        return self.steps[0].name

    @property
    def qualname(self) -> str | None:
        rest = self.steps[1:]
        return ".".join(s.name for s in rest) if rest else None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AstPathSpec:
        """The spec of ``data``; ``UsageError`` if it is not a valid astpath spec."""
        return _expect(cls, spec_from_json(data))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "steps": [s.to_json() for s in self.steps],
            "docVersion": self.version,
        }


@dataclass(frozen=True, slots=True)
class AnchorSpec:
    """``anchor://PATH#"snippet"?ctx=N``: the place where ``snippet`` occurs in the file."""

    path: str
    snippet: str
    ctx: int = DEFAULT_CTX
    version: str | None = None
    kind: ClassVar[SpecKind] = "anchor"

    def __post_init__(self) -> None:
        check_path(self.path)
        if not isinstance(self.snippet, str) or not self.snippet:
            raise ValueError("an anchor snippet must be a non-empty string")
        _encodable(self.snippet, "snippet")
        _check_number(self.ctx, "ctx", low=0, high=MAX_CTX)
        check_version(self.version)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnchorSpec:
        """The spec of ``data``; ``UsageError`` if it is not a valid anchor spec."""
        return _expect(cls, spec_from_json(data))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "snippet": self.snippet,
            "ctx": self.ctx,
            "docVersion": self.version,
        }


PositionSpec = CursorSpec | RangeSpec | SymbolSpec | AstPathSpec | AnchorSpec
_S = TypeVar("_S", CursorSpec, RangeSpec, SymbolSpec, AstPathSpec, AnchorSpec)


def _expect(cls: type[_S], spec: PositionSpec) -> _S:
    if not isinstance(spec, cls):
        raise UsageError(f"expected a {cls.kind} spec, got a {spec.kind} spec")
    return spec


def _opt(data: dict[str, Any], key: str) -> Any:
    return data.get(key)


def _from_json(data: Any) -> PositionSpec:
    if not isinstance(data, dict):
        raise TypeError("a PositionSpec is a JSON object")
    kind = data.get("kind")
    version = _opt(data, "docVersion")
    allowed: dict[str, set[str]] = {
        "cursor": {"kind", "path", "line", "column", "docVersion"},
        "range": {"kind", "path", "start", "end", "docVersion"},
        "symbol": {"kind", "module", "qualname", "role", "overload", "accessor", "docVersion"},
        "ast": {"kind", "steps", "docVersion"},
        "anchor": {"kind", "path", "snippet", "ctx", "docVersion"},
    }
    if kind not in allowed:
        raise ValueError(
            f"unknown selector kind {kind!r} (expected one of {', '.join(SPEC_KINDS)})"
        )
    unknown = sorted(set(data) - allowed[kind])
    if unknown:
        raise ValueError(f"unknown field(s) for a {kind} spec: {', '.join(unknown)}")
    if kind == "cursor":
        return CursorSpec(data["path"], data["line"], data["column"], version)
    if kind == "range":
        start, end = data["start"], data["end"]
        if set(start) != {"line", "column"} or set(end) != {"line", "column"}:
            raise ValueError("range start and end are {line, column} objects")
        return RangeSpec(
            data["path"], start["line"], start["column"], end["line"], end["column"], version
        )
    if kind == "symbol":
        return SymbolSpec(
            data["module"],
            _opt(data, "qualname"),
            data.get("role", "def"),
            _opt(data, "overload"),
            _opt(data, "accessor"),
            version,
        )
    if kind == "ast":
        steps = data["steps"]
        if not isinstance(steps, list):
            raise TypeError("steps is a list")
        parsed: list[AstStep] = []
        for step in steps:
            if not isinstance(step, dict) or set(step) != {"kind", "name"}:
                raise ValueError("each AST step is a {kind, name} object")
            parsed.append(AstStep(step["kind"], step["name"]))
        return AstPathSpec(tuple(parsed), version)
    return AnchorSpec(data["path"], data["snippet"], data.get("ctx", DEFAULT_CTX), version)


def spec_from_json(data: Any) -> PositionSpec:
    """The PositionSpec of a JSON object; ``UsageError`` when it is not a valid one."""
    try:
        return _from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        detail = f"missing field {err}" if isinstance(err, KeyError) else str(err)
        raise UsageError(f"invalid PositionSpec JSON: {detail}", details={"spec": data}) from err


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of ``PositionSpec.to_json()``."""
    version = {
        "description": (
            "Hex prefix (8..64) of the sha256 of the file text the selector was made against."
        ),
        "anyOf": [{"type": "string", "pattern": "^[0-9a-f]{8,64}$"}, {"type": "null"}],
    }
    number = {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER}
    path = {
        "type": "string",
        "minLength": 1,
        "description": "Workspace-relative POSIX path without '.' or '..' segments.",
        "not": {"pattern": "(^/)|(^|/)\\.{0,2}(/|$)"},
    }
    name = {"type": "string", "minLength": 1, "pattern": "^[^.]+$"}
    dotted = {"type": "string", "minLength": 1, "pattern": "^[^.]+(\\.[^.]+)*$"}
    point = {
        "type": "object",
        "properties": {"line": number, "column": number},
        "required": ["line", "column"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "PositionSpec",
        "description": (
            "A codeprm selector in structured form. Lines, columns and overload numbers "
            "are 1-based; columns count in the --index-io unit used when resolving."
        ),
        "oneOf": [{"$ref": f"#/$defs/{k}"} for k in SPEC_KINDS],
        "$defs": {
            "docVersion": version,
            "cursor": {
                "type": "object",
                "properties": {
                    "kind": {"const": "cursor"},
                    "path": path,
                    "line": number,
                    "column": number,
                    "docVersion": {"$ref": "#/$defs/docVersion"},
                },
                "required": ["kind", "path", "line", "column"],
                "additionalProperties": False,
            },
            "range": {
                "type": "object",
                "description": "End is exclusive and not before start.",
                "properties": {
                    "kind": {"const": "range"},
                    "path": path,
                    "start": point,
                    "end": point,
                    "docVersion": {"$ref": "#/$defs/docVersion"},
                },
                "required": ["kind", "path", "start", "end"],
                "additionalProperties": False,
            },
            "symbol": {
                "type": "object",
                "description": "overload and accessor are exclusive and need a qualname.",
                "properties": {
                    "kind": {"const": "symbol"},
                    "module": dotted,
                    "qualname": {"anyOf": [dotted, {"type": "null"}]},
                    "role": {"enum": list(ROLES)},
                    "overload": {"anyOf": [number, {"type": "null"}]},
                    "accessor": {"anyOf": [{"enum": list(ACCESSORS)}, {"type": "null"}]},
                    "docVersion": {"$ref": "#/$defs/docVersion"},
                },
                "required": ["kind", "module"],
                "additionalProperties": False,
            },
            "ast": {
                "type": "object",
                "properties": {
                    "kind": {"const": "ast"},
                    "steps": {
                        "type": "array",
                        "minItems": 1,
                        "prefixItems": [
                            {
                                "type": "object",
                                "properties": {
                                    "kind": {"const": "module"},
                                    "name": {"anyOf": [dotted, path]},
                                },
                                "required": ["kind", "name"],
                                "additionalProperties": False,
                            }
                        ],
                        "items": {
                            "type": "object",
                            "properties": {"kind": {"enum": ["class", "def"]}, "name": name},
                            "required": ["kind", "name"],
                            "additionalProperties": False,
                        },
                    },
                    "docVersion": {"$ref": "#/$defs/docVersion"},
                },
                "required": ["kind", "steps"],
                "additionalProperties": False,
            },
            "anchor": {
                "type": "object",
                "properties": {
                    "kind": {"const": "anchor"},
                    "path": path,
                    "snippet": {"type": "string", "minLength": 1},
                    "ctx": {"type": "integer", "minimum": 0, "maximum": MAX_CTX},
                    "docVersion": {"$ref": "#/$defs/docVersion"},
                },
                "required": ["kind", "path", "snippet"],
                "additionalProperties": False,
            },
        },
    }
