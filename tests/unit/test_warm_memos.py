"""The warm step's per-text memos answer exactly what the whole computation answers."""

from __future__ import annotations

import ast
import copy
import tokenize

import pytest

from codeprm.analysis import execfacts, pyast, structure
from codeprm.rewards import identity

#: texts whose tokens cross column-0 lines in every way the tokenizer knows
TRICKY = [
    "",
    "x = 1",
    "x = 1\n",
    "def f():\n    return 1\n\n\nclass A:\n    def g(self):\n        pass\n",
    '"""module\ndocstring at column 0\nx = 1\n"""\ny = 2\n',
    "def f():\n    s = '''\nclass NotAClass:\n    pass\n'''\n    return s\n",
    "x = (1,\n2)\ny = [\n3]\n",
    "x = 1 + \\\n2\nz = 3\n",
    "@dec\ndef f():\n    pass\n@dec2\nclass B:\n    x = 1\n",
    "if x:\n    a = 1\nelse:\n    a = 2\ntry:\n    pass\nexcept E:\n    pass\n",
    "x = 1\r\ny = 2\r\n\fz = 3\n",
    "def f():\n\tif x:\n\t\treturn 1\n\treturn 2\nq = 1\n",
    "x = (\n",  # an unclosed bracket: no tokens at all
    "def f():\n  return 1\n return 2\n",  # a dedent to no outer level
    "x = '''never closed\ny = 1\n",
    "# only a comment\n\n\n# another\n",
    "class A:\n    pass\n# a comment at column 0\n    # an indented one\nx = 1\n",
    "x = 1\n)\ny = 2\n",
    "s = f'{\n1}'\nt = 2\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_segment_tokens_are_the_whole_texts_tokens(text: str) -> None:
    identity._SEGMENTS.clear()
    segments = identity._segment_tokens(text)
    whole = identity._tokens(text)
    assert (None if segments is None else identity._flat(segments)) == whole
    again = identity._segment_tokens(text)  # now from the memo
    assert (None if again is None else identity._flat(again)) == whole


def test_an_edit_retokenizes_only_its_segment() -> None:
    head = "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(50))
    before = head + "class C:\n    def m(self):\n        return helper(1)\n"
    after = head + "class C:\n    def m(self):\n        return helper2(1)\n"
    identity._SEGMENTS.clear()
    identity._segment_tokens(before)
    cached = len(identity._SEGMENTS)
    identity._segment_tokens(after)
    assert len(identity._SEGMENTS) == cached + 1  # the edited class, nothing else
    assert identity.renamed_identifiers([(before, after)]) == {"helper": "helper2"}


def _old_renamed(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """renamed_identifiers as it was before segments: whole-text tokens throughout."""
    import difflib
    import keyword

    found: dict[str, str | None] = {}
    for old, new in pairs:
        a, b = identity._tokens(old), identity._tokens(new)
        if a is None or b is None:
            continue
        head = 0
        while head < min(len(a), len(b)) and a[head] == b[head]:
            head += 1
        tail = 0
        while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
            tail += 1
        a, b = a[head : len(a) - tail], b[head : len(b) - tail]
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
            None, a, b, autojunk=False
        ).get_opcodes():
            if tag != "replace" or i2 - i1 != j2 - j1:
                continue
            run = list(zip(a[i1:i2], b[j1:j2], strict=True))
            if any(x != y and not (x[0] == y[0] == tokenize.NAME) for x, y in run):
                continue
            for (_, o), (_, n) in run:
                if o == n or keyword.iskeyword(o) or keyword.iskeyword(n):
                    continue
                found[o] = n if found.get(o, n) == n else None
    return {k: v for k, v in found.items() if v is not None}


@pytest.mark.parametrize("before", TRICKY)
@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace("x", "xx"),
        lambda t: t + "def f():\n    return 1\n",
        lambda t: "y = 0\n" + t,
        lambda t: t.replace("\n", "\n\n", 1),
        lambda t: t[: len(t) // 2],
    ],
)
def test_renamed_identifiers_equal_the_whole_text_alignment(before: str, edit: object) -> None:
    after = edit(before)  # type: ignore[operator]
    assert identity.renamed_identifiers([(before, after)]) == _old_renamed([(before, after)])


def _whole_definitions(text: str) -> dict[str, execfacts._Def]:
    """_definitions as it was before the per-definition memo."""
    tree = ast.parse(text)
    out: dict[str, execfacts._Def] = {}

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out[prefix + node.name] = execfacts._Def(
                    ast.dump(node), execfacts._has_examples(node)
                )
            elif isinstance(node, ast.ClassDef):
                shell = copy.copy(node)
                shell.body = [
                    s
                    for s in node.body
                    if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                ]
                out[prefix + node.name] = execfacts._Def(
                    ast.dump(shell), execfacts._has_examples(node)
                )
                walk(node.body, prefix + node.name + ".")

    walk(tree.body, "")
    return out


DEFS = (
    "import x\n\n\n@dec(1)\ndef f(a):\n    '''>>> f(1)\n    1\n    '''\n    return a\n\n\n"
    "class A(B):\n    y = 1\n\n    def m(self):\n        return 2\n\n    class In:\n        z = 3\n"
    "async def g(): return 1\n"
)


@pytest.mark.parametrize(
    "text",
    [
        DEFS,
        DEFS.replace("return 2", "return 3"),
        DEFS.replace("y = 1", "y = 2"),
        DEFS.replace("@dec(1)", "@dec(2)"),
        DEFS.replace("\n", "\r\n"),
        DEFS.replace("    '''>>> f(1)\n    1\n    '''\n", ""),
        "x = 'a\u2028b'\n" + DEFS,  # a line separator the parser does not break lines at
        DEFS + "def f(a):\n    return a + 1\n",  # a redefinition
    ],
)
def test_definitions_memo_equals_a_whole_computation(text: str) -> None:
    execfacts._definitions.cache_clear()
    warm = execfacts._definitions(DEFS)  # the memo holds the unedited text's definitions
    assert warm == _whole_definitions(DEFS)
    execfacts._definitions.cache_clear()
    assert execfacts._definitions(text) == _whole_definitions(text)


def test_statement_lines_follow_the_parsers_lines() -> None:
    text = "a = 1\r\nb = '\f'\rdef f():\n    return 1\n"
    lines = pyast.source_lines(text)
    tree = ast.parse(text)
    f = tree.body[2]
    assert isinstance(f, ast.FunctionDef)
    assert pyast.statement_lines(lines, f) == "def f():\n    return 1\n"
    assert pyast.parse(text) is pyast.parse(text)  # one parse per text


def test_importers_memo_hands_out_a_fresh_set() -> None:
    texts = {"pkg/__init__.py": "", "pkg/a.py": "x = 1\n", "pkg/b.py": "from pkg import a\n"}
    first = structure.importers(texts, ["pkg/a.py"])
    assert first == {"pkg/b.py"}
    first.add("mutated")
    assert structure.importers(texts, ["pkg/a.py"]) == {"pkg/b.py"}
    assert structure.importers({**texts, "pkg/b.py": "y = 2\n"}, ["pkg/a.py"]) == set()
