"""Which language a workspace file belongs to, from its name alone. Standard library only.

One language is one server session: Python (basedpyright), TypeScript (TypeScript 7's
native server, which also checks JavaScript) and C/C++ (clangd). A workspace-wide walk
takes Python always and another language when the workspace shows it uses it (a marker
file at the root), so a Python project with a stray ``docs/_static/x.js`` does not start
a TypeScript server; a file named explicitly is always taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Language:
    name: str
    #: suffix -> the LSP languageId sent in didOpen
    language_ids: tuple[tuple[str, str], ...]
    #: root files that make a workspace-wide walk include this language (empty: always)
    markers: tuple[str, ...] = ()

    @property
    def suffixes(self) -> tuple[str, ...]:
        return tuple(s for s, _ in self.language_ids)

    def language_id(self, path: str) -> str:
        for suffix, lid in self.language_ids:
            if path.endswith(suffix):
                return lid
        return self.name


PYTHON = Language("python", ((".py", "python"), (".pyi", "python")))
TYPESCRIPT = Language(
    "typescript",
    (
        (".ts", "typescript"),
        (".mts", "typescript"),
        (".cts", "typescript"),
        (".tsx", "typescriptreact"),
        (".js", "javascript"),
        (".mjs", "javascript"),
        (".cjs", "javascript"),
        (".jsx", "javascriptreact"),
    ),
    markers=("tsconfig.json", "jsconfig.json", "package.json"),
)
C = Language(
    "c",
    (
        (".c", "c"),
        (".h", "c"),
        (".cc", "cpp"),
        (".cpp", "cpp"),
        (".cxx", "cpp"),
        (".hh", "cpp"),
        (".hpp", "cpp"),
    ),
    markers=("compile_commands.json", "compile_flags.txt", ".clangd"),
)

#: every language codeprm has a server spec for, Python first (the primary one)
LANGUAGES: tuple[Language, ...] = (PYTHON, TYPESCRIPT, C)
BY_NAME = {lang.name: lang for lang in LANGUAGES}


def language_of(path: str | Path) -> Language | None:
    """The language of a file by its suffix, or None (configuration, data, other code)."""
    name = path.name if isinstance(path, Path) else path.rsplit("/", 1)[-1]
    for lang in LANGUAGES:
        if name.endswith(lang.suffixes):
            return lang
    return None


def is_source_name(name: str) -> bool:
    """Whether a file name is a source of any known language (hidden files are not)."""
    return not name.startswith(".") and language_of(name) is not None


def detected(root: Path) -> tuple[Language, ...]:
    """The languages a workspace-wide walk covers: Python, and every language whose marker
    file is at the root."""
    out = []
    for lang in LANGUAGES:
        if not lang.markers or any((root / m).is_file() for m in lang.markers):
            out.append(lang)
    return tuple(out)


def detected_in(paths: set[str] | frozenset[str]) -> tuple[Language, ...]:
    """``detected`` for a workspace given as its relative paths (a commit's tree)."""
    return tuple(
        lang for lang in LANGUAGES if not lang.markers or any(m in paths for m in lang.markers)
    )


def is_walked(rel: str, languages: tuple[Language, ...]) -> bool:
    """Whether a workspace-wide walk over ``languages`` reads this relative path."""
    from codeprm.pyfiles import walks_dir

    *dirs, name = rel.split("/")
    suffixes = tuple(s for lang in languages for s in lang.suffixes)
    return name.endswith(suffixes) and not name.startswith(".") and all(walks_dir(d) for d in dirs)


def order(names: set[str] | list[str]) -> list[str]:
    """Language names in the registry's order (Python first)."""
    rank = {lang.name: i for i, lang in enumerate(LANGUAGES)}
    return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n))
