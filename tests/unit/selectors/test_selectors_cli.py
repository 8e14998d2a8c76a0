"""``codeprm locate``: human output, --json, --index-io, and exit codes through the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from codeprm.cli.locate import default_root, locate_cmd
from tests.conftest import check_bundle

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "selectors" / "ws_basic"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of ws_basic: locate keeps the texts it resolves against in .codeprm/index."""
    root = tmp_path_factory.mktemp("locate") / "ws_basic"
    shutil.copytree(FIXTURE, root)
    return str(root)


def _invoke(ws: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(locate_cmd, [*args, "-w", ws])
    return result.exit_code, result.output


def test_human_output_shows_range_preview_and_confidence(ws: str) -> None:
    code, out = _invoke(ws, "py://shop.core#Cart.size:doc")
    assert code == 0
    assert out.splitlines()[0] == "src/shop/core.py:L33:C9-L33:C31  (utf-16, 1-based)"
    assert "confidence 1.000" in out and "symbolId py:" in out
    assert '> 33 |         """Number of items."""' in out


def test_index_io_and_verbose_units(ws: str) -> None:
    code, out = _invoke(ws, 'anchor://src/shop/unicode_mod.py#"+ x"', "--index-io", "utf-8", "-v")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "src/shop/unicode_mod.py:L7:C19-L7:C22  (utf-8, 1-based)"
    assert "  utf-16: L7:C17-L7:C20" in lines
    assert "  codepoint: L7:C16-L7:C19" in lines
    assert any(line.startswith("weights: ast_kind 0.5") for line in lines)


def test_cursor_columns_in_index_io_units(ws: str) -> None:
    code, out = _invoke(ws, "src/shop/unicode_mod.py@L7:C16", "--index-io", "codepoint")
    assert code == 0 and out.startswith("src/shop/unicode_mod.py:L7:C16  (codepoint")


def test_json_output_is_a_bundle_holding_the_resolution(ws: str) -> None:
    from codeprm.bundles import encode

    code, out = _invoke(ws, "py://shop.core#parse?overload=2", "--json")
    assert code == 0
    bundle = check_bundle(json.loads(out))
    assert bundle["request"]["operation"] == "locate"
    assert bundle["request"]["targets"] == ["src/shop/core.py"]
    assert out.strip().encode() == encode(bundle)
    data = bundle["resolution"]
    assert data["range"] == {
        "start": {"line": 65, "character": 0},
        "end": {"line": 66, "character": 33},
    }
    assert data["selector"] == "py://shop.core#parse?overload=2"
    # the same request on the same snapshot has the same id in another call
    assert (
        json.loads(_invoke(ws, "py://shop.core#parse?overload=2", "--json")[1])["bundleId"]
        == bundle["bundleId"]
    )


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
    selector: str, code: int, message: str, capsys: pytest.CaptureFixture[str], ws: str
) -> None:
    from codeprm.cli.main import run

    assert run(["locate", selector, "-w", ws]) == code
    err = capsys.readouterr().err
    assert err.startswith("codeprm: error:") and message in err and err.count("\n") == 1


def test_relocation_reports_its_confidence(ws: str) -> None:
    # there is no module-level wrapper; the nested logged.wrapper is the one candidate
    code, out = _invoke(ws, "ast://[module=shop.core]/[def=wrapper]", "-v")
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


# -- relocation across processes (.codeprm/index) ---------------------------------------------


def _locate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``codeprm locate`` in a new process, without a daemon."""
    env = {"PYTHONPATH": str(REPO), "CODEPRM_NO_DAEMON": "1", "PATH": "/usr/bin:/bin"}
    import os

    env["CODEPRM_STATE_HOME"] = os.environ["CODEPRM_STATE_HOME"]
    return subprocess.run(
        [sys.executable, "-m", "codeprm", "locate", *args, "-w", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _ws_with_core(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "ws"
    (root / "src" / "pkg").mkdir(parents=True)
    text = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(30))
    (root / "src" / "pkg" / "core.py").write_text(text)
    return root, hashlib.sha256(text.encode()).hexdigest()[:12]


def _insert_five_lines(root: Path) -> None:
    core = root / "src" / "pkg" / "core.py"
    core.write_text("import os\n" * 5 + core.read_text())


def test_cursor_with_version_relocates_in_a_new_process_after_an_edit(tmp_path: Path) -> None:
    root, v = _ws_with_core(tmp_path)
    first = _locate(root, f"src/pkg/core.py@L20:C12?v={v}")
    assert first.returncode == 0, first.stderr
    assert "docVersion current" in first.stdout
    _insert_five_lines(root)
    later = _locate(root, f"src/pkg/core.py@L20:C12?v={v}", "--json")
    assert later.returncode == 0, later.stderr
    res = check_bundle(json.loads(later.stdout))["resolution"]
    assert res["range"]["start"] == {"line": 24, "character": 11}
    assert res["versionCheck"] == "relocated"


def test_the_store_is_ignored_when_codeprm_did_not_write_it(tmp_path: Path) -> None:
    root, v = _ws_with_core(tmp_path)
    assert _locate(root, f"src/pkg/core.py@L20:C12?v={v}").returncode == 0
    index = root / ".codeprm" / "index"
    (entry,) = index.iterdir()
    _insert_five_lines(root)
    body = json.loads(entry.read_text())
    # the same text and hash, but a MAC made with another key: not ours
    forged = {**body, "mac": "0" * 64}
    entry.write_text(json.dumps(forged))
    assert _locate(root, f"src/pkg/core.py@L20:C12?v={v}").returncode == 10
    # a text that does not hash to its name, even with the key's MAC kept
    tampered = {**body, "text": body["text"].replace("x + 6", "x + 7")}
    entry.write_text(json.dumps(tampered))
    assert _locate(root, f"src/pkg/core.py@L20:C12?v={v}").returncode == 10
    # a symlink to a genuine entry elsewhere is not followed
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(body))
    entry.unlink()
    entry.symlink_to(elsewhere)
    assert _locate(root, f"src/pkg/core.py@L20:C12?v={v}").returncode == 10
    entry.unlink()
    entry.write_text(json.dumps(body))  # the genuine entry again: relocates
    again = _locate(root, f"src/pkg/core.py@L20:C12?v={v}")
    assert again.returncode == 0 and "L25:C12" in again.stdout, again.stderr


def test_a_symlinked_index_directory_is_never_written_through(tmp_path: Path) -> None:
    root, v = _ws_with_core(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / ".codeprm").mkdir()
    (root / ".codeprm" / "index").symlink_to(outside)
    done = _locate(root, f"src/pkg/core.py@L20:C12?v={v}")
    assert done.returncode == 0, done.stderr  # remembering is best effort
    assert list(outside.iterdir()) == []


def test_the_store_is_bounded_and_survives_concurrent_writers(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from codeprm.workspace.textstore import TextStore

    root = tmp_path / "ws"
    root.mkdir()
    store = TextStore(root, per_path=3, max_entries=5)
    texts = [f"x = {i}\n" for i in range(8)]
    for t in texts:
        assert store.remember("a.py", t)
    kept = {t for _, _, t in store.lookup("")}
    assert kept == set(texts[-3:])  # the oldest versions of one path were evicted
    for i in range(4):
        assert store.remember(f"b{i}.py", "y = 1\n")
    assert len(store.lookup("")) == 5
    # many writers at once (threads here, processes in the CLI): every entry is whole
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: TextStore(root).remember(f"c{i % 4}.py", f"z = {i}\n"), range(64)))
    for path, sha, text in TextStore(root).lookup(""):
        assert hashlib.sha256(text.encode()).hexdigest() == sha and path.endswith(".py")
    assert not [p for p in (root / ".codeprm" / "index").iterdir() if p.name.startswith(".tmp-")]
