"""The repository's own contracts: README and CI agree, exit codes are documented."""

from __future__ import annotations

import re
from pathlib import Path

from codeprm.errors import EXIT_CODES

REPO = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_gives_exactly_two_setup_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert "codeprm " in commands[0] and "examples/" in commands[0]
    assert "pytest" in commands[1] and "torch==2.13.0" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci


def test_every_exit_code_is_in_the_readme() -> None:
    text = (REPO / "README.md").read_text()
    for code in EXIT_CODES:
        assert re.search(rf"^\| {code} \|", text, re.M), code
