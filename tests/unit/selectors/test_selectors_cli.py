"""``codeprm locate``: human output, --json, --index-io, and exit codes through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from codeprm.cli.locate import default_root, locate_cmd

WS = str(Path(__file__).resolve().parents[2] / "fixtures" / "selectors" / "ws_basic")


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(locate_cmd, [*args, "-w", WS])
    return result.exit_code, result.output


def test_human_output_shows_range_preview_and_confidence() -> None:
    code, out = _invoke("py://shop.core#Cart.size:doc")
    assert code == 0
    assert out.splitlines()[0] == "src/shop/core.py:L33:C9-L33:C31  (utf-16, 1-based)"
    assert "confidence 1.000" in out and "symbolId py:" in out
    assert '> 33 |         """Number of items."""' in out


def test_index_io_and_verbose_units() -> None:
    code, out = _invoke('anchor://src/shop/unicode_mod.py#"+ x"', "--index-io", "utf-8", "-v")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "src/shop/unicode_mod.py:L7:C19-L7:C22  (utf-8, 1-based)"
    assert "  utf-16: L7:C17-L7:C20" in lines
    assert "  codepoint: L7:C16-L7:C19" in lines
    assert any(line.startswith("weights: ast_kind 0.5") for line in lines)


def test_cursor_columns_in_index_io_units() -> None:
    code, out = _invoke("src/shop/unicode_mod.py@L7:C16", "--index-io", "codepoint")
    assert code == 0 and out.startswith("src/shop/unicode_mod.py:L7:C16  (codepoint")


def test_json_output_is_the_resolution() -> None:
    code, out = _invoke("py://shop.core#parse?overload=2", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["range"] == {
        "start": {"line": 65, "character": 0},
        "end": {"line": 66, "character": 33},
    }
    assert data["selector"] == "py://shop.core#parse?overload=2"
    assert out.strip() == json.dumps(data, sort_keys=True)


@pytest.mark.parametrize(
    ("selector", "code", "message"),
    [
        ("py://shop.core#nothing", 3, "no such element"),
        ('anchor://src/shop/core.py#"return"', 4, "tie"),
        ("src/shop/core.py@L1:C1?v=0123456789ab", 10, "docVersion"),
        ("src/shop/core.py@L0:C1", 2, "bad selector at column"),
    ],
)
def test_errors_become_exit_codes(
    selector: str, code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from codeprm.cli.main import run

    assert run(["locate", selector, "-w", WS]) == code
    err = capsys.readouterr().err
    assert err.startswith("codeprm: error:") and message in err and err.count("\n") == 1


def test_relocation_reports_its_confidence() -> None:
    # there is no module-level wrapper; the nested logged.wrapper is the one candidate
    code, out = _invoke("ast://[module=shop.core]/[def=wrapper]", "-v")
    assert code == 0
    assert out.startswith("src/shop/core.py:L16:C5-L18:C37")
    assert "confidence 0.850" in out
    assert "features: ast_kind 1.000, jaccard 0.500, module 1.000, proximity 0.500" in out


def test_default_root_is_the_git_top_level(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "a" / "b").mkdir(parents=True)
    (tmp_path / "plain").mkdir()
    assert default_root(tmp_path / "repo" / "a" / "b") == (tmp_path / "repo").resolve()
    assert default_root(tmp_path / "plain") == (tmp_path / "plain").resolve()
