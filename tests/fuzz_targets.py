"""Fuzz targets and input strategies shared by tests/unit/test_fuzz.py and benchmarks/fuzz.py.

Every target takes one generated input, runs a library entry point in-process, and the
outcome is the exit code the CLI would give: 0, a ``CodeprmError``'s code, 1 for any
other exception (an internal error: a bug), or ``"hang"`` when the case ran past its
deadline (SIGALRM interrupts Python loops and blocking system calls alike).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from codeprm import safejson
from codeprm.errors import CodeprmError

#: seconds one case may take before it counts as a hang
CASE_DEADLINE = 10.0

Outcome = int | str  # an exit code, or "hang"


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` swallows it."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(fn: Callable[[], Any], *, seconds: float = CASE_DEADLINE) -> tuple[Outcome, str]:
    """(exit code or "hang", detail) of one case."""
    try:
        with deadline(seconds):
            fn()
    except Hang:
        return "hang", "ran past the deadline"
    except CodeprmError as err:
        return err.exit_code, err.one_line()
    except Exception as err:  # an internal error: the thing the fuzzer hunts
        return 1, "".join(
            traceback.format_exception_only(err)
        ).strip() + "\n" + traceback.format_exc(limit=-3)
    return 0, ""


# -- the workspace every case runs against ------------------------------------------------------
M_PY = 'def f(x: int) -> int:\n    """Double."""\n    return x * 2\n\n\nclass C:\n    def m(self) -> int:\n        return f(1)\n\n\nY = f(2)\n'


@dataclass
class Workspace:
    """A temporary git-less workspace with hostile files beside normal ones."""

    root: Path
    texts: dict[str, str] = field(default_factory=dict)
    index: Any = None

    @classmethod
    def create(cls) -> Workspace:
        root = Path(tempfile.mkdtemp(prefix="codeprm-fuzz-")).resolve()
        files = {
            "pkg/__init__.py": "",
            "pkg/m.py": M_PY,
            "pkg/crlf.py": "a = 1\r\nb = 2\r\n",
            "café.py": "x = 1\n",
        }
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(text.encode())
        os.mkfifo(root / "evil.py")
        (root / "binary.py").write_bytes(b"x = 1\0\n")
        (root / "latin.py").write_bytes(b"s = '\xe9'\n")
        with (root / "big.py").open("wb") as f:
            f.truncate(16 * 1024 * 1024 + 1)  # sparse
        (root / "loop1.py").symlink_to("loop2.py")
        (root / "loop2.py").symlink_to("loop1.py")
        (root / "dir.py").mkdir()
        from codeprm.selectors import WorkspaceIndex

        return cls(root, dict(files), WorkspaceIndex(root, scan=False))

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# -- targets -------------------------------------------------------------------------------------------
def t_selector(ws: Workspace, text: str) -> None:
    from codeprm.selectors import resolve

    json.dumps(resolve(text, ws.index).to_json())


def t_edit(ws: Workspace, text: str) -> None:
    """A diff or a WorkspaceEdit, planned against the files on disk (never written)."""
    from codeprm.analysis.step import plan_edit

    plan_edit(ws.root, text)


def t_diff_pure(ws: Workspace, text: str) -> None:
    from codeprm.workspace.diffs import parse_unified_diff, resolve_patch

    resolve_patch(parse_unified_diff(text), ws.texts)


def t_wsedit_pure(ws: Workspace, text: str) -> None:
    from codeprm.workspace.wsedit import parse_workspace_edit, resolve_workspace_edit

    resolve_workspace_edit(parse_workspace_edit(text, ws.root), ws.texts)


def t_trajectory(ws: Workspace, text: str) -> None:
    from codeprm.trajectories.model import Step

    step = Step.from_json(safejson.loads(text, what="step"))
    json.dumps(step.to_json(), ensure_ascii=False).encode("utf-8")


def t_bundle(ws: Workspace, text: str) -> None:
    from codeprm.bundles.schema import validate_bundle
    from codeprm.rewards.functional import Weights
    from codeprm.rewards.rescore import rescore

    bundle = safejson.loads(text, what="bundle")
    validate_bundle(bundle)
    rescore([bundle], Weights())


def t_trace(ws: Workspace, text: str) -> None:
    from codeprm.bundles import trace
    from codeprm.cli.trace import check_trace_file

    path = ws.root / "trace.jsonl"
    path.write_text(text, "utf-8", errors="surrogatepass")
    check_trace_file(path)
    for inv in trace.select(trace.read(path)):
        json.dumps(inv.summary())
        with contextlib.suppress(CodeprmError):
            inv.verify()
        inv.bundles, inv.frames  # noqa: B018


def t_batch_line(ws: Workspace, raw: bytes) -> None:
    from codeprm.cli.batch import parse_line

    parse_line(raw, 1)


# -- strategies -------------------------------------------------------------------------------------------
TOKENS = [
    "\0",
    "\n",
    "\r\n",
    "\t",
    " ",
    '"',
    "'",
    "\\",
    "\\u",
    "\\ud800",
    "\\udc00",
    "\\x",
    "%",
    "%ff",
    "%00",
    "%2F",
    "/",
    "..",
    ".",
    "@",
    "#",
    ":",
    "?",
    "&",
    "=",
    "(",
    ")",
    ",",
    "->",
    "[",
    "]",
    "{",
    "}",
    "[" * 300,
    '{"a":' * 300,
    "0",
    "-1",
    "1",
    "99999999999999999999",
    "9" * 5000,
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "-Infinity",
    str(2**53 + 1),
    "0.5",
    "null",
    "true",
    "false",
    "\u00e9",
    "\ud83d\ude00",
    "\u200b",
    "\ufeff",
    "a" * 300,
    "evil.py",
    "binary.py",
    "big.py",
    "loop1.py",
    "latin.py",
    "dir.py",
    "missing.py",
    "pkg/m.py",
    "café.py",
    '"a/caf\\303\\251.py"',
    '"b/caf\\377.py"',
    "\\303\\251",
    "a/",
    "b/",
    "/dev/null",
    "file://",
    "file:///",
    "@@ -1 +1 @@\n",
    "@@ -99999999999999999999,3 +1,3 @@\n",
    "@@ -0,0 +1 @@\n",
    "\\ No newline at end of file\n",
    "--- ",
    "+++ ",
    "diff --git ",
    "rename from ",
    "new file mode 100644\n",
    "Binary files differ\n",
    "-",
    "+",
]

_token = st.sampled_from(TOKENS) | st.text(max_size=6)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[str]) -> str:
    """A seed with a few insertions, deletions, duplications and replacements."""
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "dup", "swapnum"]))
        at = draw(st.integers(0, max(len(text), 1))) % (len(text) + 1)
        if op == "insert":
            text = text[:at] + draw(_token) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif op == "replace":
            text = text[:at] + draw(_token) + text[at + draw(st.integers(1, 8)) :]
        elif op == "dup":
            text = text[:at] + text[at : at + 60] * draw(st.integers(2, 5)) + text[at:]
        else:
            import re

            nums = list(re.finditer(r"\d+", text))
            if nums:
                m = nums[draw(st.integers(0, len(nums) - 1))]
                text = (
                    text[: m.start()]
                    + draw(
                        st.sampled_from(
                            ["0", "-1", "99999999999999999999", "9" * 5000, "1e999", "4294967296"]
                        )
                    )
                    + text[m.end() :]
                )
    return text


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["pkg/m.py", "x"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True, ensure_ascii=False)


def selector_seeds() -> list[str]:
    return [
        "pkg/m.py@L1:C5",
        "pkg/m.py@L3:C12?v=abc",
        "pkg/m.py@R(1,5->3,1)",
        "pkg/m.py@R(1,1->99,1)",
        "py://pkg.m#f",
        "py://pkg.m#C.m:body",
        "py://pkg.m#f:sig?overload=1",
        "py://pkg.m#C.m?accessor=setter",
        "ast://[module=pkg.m]/[class=C]/[def=m]",
        'anchor://pkg/m.py#"def%20f("?ctx=24',
        "evil.py@L1:C1",
        "big.py@L1:C1",
        "binary.py@L1:C1",
        "loop1.py@L1:C1",
        "dir.py@L1:C1",
        "latin.py@L1:C1",
        "café.py@L1:C1",
        "pkg/crlf.py@L2:C3",
        'anchor://evil.py#"x"',
        "py://evil#x",
    ]


def diff_seeds() -> list[str]:
    return [
        '--- a/pkg/m.py\n+++ b/pkg/m.py\n@@ -1,3 +1,3 @@\n-def f(x: int) -> int:\n+def f(x: int) -> str:\n     """Double."""\n     return x * 2\n',
        "diff --git b/pkg/m.py a/pkg/m.py\n--- b/pkg/m.py\n+++ a/pkg/m.py\n@@ -11 +11 @@\n-Y = f(2)\n+Y = f(3)\n",
        "diff --git a/new.py b/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1,2 @@\n+a = 1\n+b = 2\n",
        "diff --git a/pkg/m.py b/pkg/q.py\nsimilarity index 90%\nrename from pkg/m.py\nrename to pkg/q.py\n",
        '--- "a/caf\\303\\251.py"\n+++ "b/caf\\303\\251.py"\n@@ -1 +1 @@\n-x = 1\n+x = 2\n',
        "--- a/pkg/crlf.py\n+++ b/pkg/crlf.py\n@@ -1,2 +1,2 @@\n a = 1\r\n-b = 2\r\n+b = 3\r\n",
        "--- a/evil.py\n+++ b/evil.py\n@@ -1 +1 @@\n-x\n+y\n",
        "--- a/big.py\n+++ b/big.py\n@@ -1 +1 @@\n-x\n+y\n",
        "--- a/pkg/m.py\n+++ b/pkg/m.py\n@@ -99999999999999999999,1 +1,1 @@\n-Y = f(2)\n+Y = f(3)\n\\ No newline at end of file\n",
        "diff --git a/pkg/__init__.py b/pkg/__init__.py\ndeleted file mode 100644\n--- a/pkg/__init__.py\n+++ /dev/null\n",
    ]


def wsedit_seeds(root: Path) -> list[str]:
    uri = (root / "pkg" / "m.py").as_uri()
    edits = [
        {
            "changes": {
                uri: [
                    {
                        "range": {
                            "start": {"line": 0, "character": 4},
                            "end": {"line": 0, "character": 5},
                        },
                        "newText": "g",
                    }
                ]
            }
        },
        {
            "documentChanges": [
                {
                    "textDocument": {"uri": uri, "version": None},
                    "edits": [
                        {
                            "range": {
                                "start": {"line": 10, "character": 0},
                                "end": {"line": 10, "character": 1},
                            },
                            "newText": "Z",
                        }
                    ],
                }
            ]
        },
        {
            "documentChanges": [
                {"kind": "create", "uri": (root / "n.py").as_uri(), "options": {"overwrite": True}}
            ]
        },
        {
            "documentChanges": [
                {"kind": "rename", "oldUri": uri, "newUri": (root / "pkg" / "r.py").as_uri()}
            ]
        },
        {
            "documentChanges": [
                {
                    "kind": "delete",
                    "uri": (root / "evil.py").as_uri(),
                    "options": {"recursive": False},
                }
            ]
        },
        {
            "changes": {
                (root / "big.py").as_uri(): [],
                "file:///tmp/%ff.py": [],
                (root / "loop1.py").as_uri(): [],
            }
        },
    ]
    return [json.dumps(e) for e in edits]


@st.composite
def structured_wsedit(draw: st.DrawFn, root: Path) -> str:
    names = [
        "pkg/m.py",
        "evil.py",
        "big.py",
        "binary.py",
        "loop1.py",
        "dir.py",
        "café.py",
        "n.py",
        "a" * 300 + ".py",
        "%ff.py",
        "x\0.py",
    ]
    uri = draw(
        st.sampled_from(
            [
                (root / n).as_uri() if "\0" not in n else "file://" + str(root) + "/" + n
                for n in names
            ]
            + ["file:///tmp/%ff", "http://x", "file://[::1/x"]
        )
    )
    pos = st.fixed_dictionaries(
        {"line": st.integers() | json_values, "character": st.integers() | json_values}
    )
    edit = st.fixed_dictionaries(
        {
            "range": st.fixed_dictionaries({"start": pos, "end": pos}) | json_values,
            "newText": st.text(max_size=10) | json_values,
        }
    )
    shape = draw(st.sampled_from(["changes", "document", "file-op"]))
    if shape == "changes":
        value: Any = {"changes": {uri: draw(st.lists(edit, max_size=3) | json_values)}}
    elif shape == "document":
        value = {
            "documentChanges": [
                {
                    "textDocument": {"uri": uri, "version": draw(st.integers() | st.none())},
                    "edits": draw(st.lists(edit, max_size=3)),
                }
            ]
        }
    else:
        kind = draw(st.sampled_from(["create", "rename", "delete", "other", None]))
        value = {
            "documentChanges": [
                {
                    "kind": kind,
                    "uri": uri,
                    "oldUri": uri,
                    "newUri": draw(st.sampled_from([uri, (root / "z.py").as_uri()])),
                    "options": draw(json_values),
                }
            ]
        }
    return dumps(value)


@st.composite
def structured_step(draw: st.DrawFn) -> str:
    text = st.text(max_size=12) | st.none() | json_values
    entry = st.fixed_dictionaries(
        {},
        optional={
            "path": st.sampled_from(["pkg/m.py", "", "../x.py", "/abs.py", "a\0b.py"])
            | json_values,
            "before": text,
            "after": text,
            "beforeSha256": st.text(max_size=4) | json_values,
            "afterSha256": st.text(max_size=4) | json_values,
        },
    )
    value = draw(
        st.fixed_dictionaries(
            {"schema": st.just("codeprm.trajectory/1") | json_values},
            optional={
                "index": st.integers() | json_values,
                "files": st.lists(entry | json_values, max_size=3) | json_values,
                "confidence": st.floats() | st.integers() | json_values,
                "id": json_values,
                "task": json_values,
                "source": json_values,
            },
        )
    )
    return dumps(value)


@st.composite
def structured_batch(draw: st.DrawFn) -> bytes:
    args = st.dictionaries(
        st.sampled_from(["files", "selector", "file", "edit", "index_io", "confidence", "other"]),
        json_values | st.floats(),
        max_size=4,
    )
    value = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "id": json_values,
                "op": st.sampled_from(["diag", "def", "refs", "hover", "symbols", "step", "nope"])
                | json_values,
                "args": args | json_values,
            },
        )
    )
    raw = dumps(value).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(raw)))
        raw = (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\0", b"\n", b"[" * 5000, b"9" * 5000]))
            + raw[at:]
        )
    return raw


def bundle_seeds() -> list[str]:
    from codeprm.bundles import encode
    from tests.unit.reports.conftest import scenario

    return [encode(b).decode() for b in scenario()]


def trace_seeds(ws: Workspace) -> list[str]:
    """A real trace (codeprm locate --trace-file) plus hand-made frame and bundle records."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from codeprm.cli.main import run

    path = ws.root / "seed-trace.jsonl"
    here = os.getcwd()
    try:
        os.chdir(ws.root)
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            run(["locate", "pkg/m.py@L1:C5", "--trace-file", str(path)])
            run(["locate", "evil.py@L1:C1", "--trace-file", str(path)])
    finally:
        os.chdir(here)
    real = path.read_text("utf-8")
    extra = (
        real
        + "\n".join(
            json.dumps(r)
            for r in (
                {
                    "inv": "x1",
                    "seq": 0,
                    "type": "begin",
                    "schema": "codeprm.trace/1",
                    "argv": ["diag"],
                    "cwd": str(ws.root),
                },
                {"inv": "x1", "seq": 1, "type": "frame", "dir": "recv", "body": '{"id": 1}'},
                {"inv": "x1", "seq": 2, "type": "bundle", "bundle": json.loads(bundle_seeds()[0])},
                {
                    "inv": "x1",
                    "seq": 3,
                    "type": "end",
                    "exitCode": 0,
                    "digest": "0" * 64,
                    "status": "ok",
                },
            )
        )
        + "\n"
    )
    return [real, extra]


@dataclass
class Target:
    name: str
    run: Callable[[Workspace, Any], None]
    strategy: Callable[[Workspace], st.SearchStrategy[Any]]
    examples: int  # in the quick test; the benchmark scales it


def targets() -> list[Target]:
    """The fuzz targets; ``examples`` sum to over 2,000 for the quick test."""
    return [
        Target(
            "selectors",
            t_selector,
            lambda ws: mutated(selector_seeds()) | st.text(max_size=40),
            400,
        ),
        Target("diffs", t_edit, lambda ws: mutated(diff_seeds()), 300),
        Target("diffs-pure", t_diff_pure, lambda ws: mutated(diff_seeds()), 150),
        Target(
            "wsedits",
            t_edit,
            lambda ws: mutated(wsedit_seeds(ws.root)) | structured_wsedit(ws.root),
            250,
        ),
        Target(
            "wsedits-pure",
            t_wsedit_pure,
            lambda ws: structured_wsedit(ws.root) | mutated(wsedit_seeds(ws.root)),
            100,
        ),
        Target(
            "trajectories",
            t_trajectory,
            lambda ws: (
                structured_step()
                | mutated(
                    [
                        dumps(
                            {
                                "schema": "codeprm.trajectory/1",
                                "index": 0,
                                "files": [{"path": "a.py", "before": None, "after": "x\n"}],
                            }
                        )
                    ]
                )
            ),
            300,
        ),
        Target(
            "bundles", t_bundle, lambda ws: mutated(bundle_seeds()) | json_values.map(dumps), 200
        ),
        Target("traces", t_trace, lambda ws: mutated(trace_seeds(ws)), 150),
        Target(
            "batch",
            t_batch_line,
            lambda ws: (
                structured_batch()
                | mutated(
                    ['{"id": 1, "op": "step", "args": {"edit": "x", "confidence": 0.5}}']
                ).map(lambda s: s.encode("utf-8", "surrogatepass"))
            ),
            300,
        ),
    ]
