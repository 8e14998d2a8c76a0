"""The workspace cache: one worktree per (repository, commit), on real temporary git repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeprm.errors import NotFoundError, UsageError
from codeprm.workspace.cache import RepoDeniedError, WorkspaceCache
from tests.conftest import git


def commit(repo: Path, text: str) -> str:
    (repo / "mod.py").write_text(text)
    git(repo, "add", "mod.py")
    git(repo, "commit", "-qm", text[:20])
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "user repo"
    r.mkdir()
    git(r, "init", "-q")
    git(r, "config", "user.email", "t@example.com")
    git(r, "config", "user.name", "t")
    return r


def test_each_commit_gets_its_own_tree_and_the_user_repo_is_never_written(
    repo: Path, tmp_path: Path
) -> None:
    one, two = commit(repo, "x = 1\n"), commit(repo, "x = 2\n")
    before = sorted(p.relative_to(repo).as_posix() for p in (repo / ".git").rglob("*"))
    cache = WorkspaceCache(tmp_path / "cache", allow=[str(repo)])
    with cache.tree(str(repo), one[:10]) as t1, cache.tree(str(repo), two) as t2:
        assert (t1.path / "mod.py").read_text() == "x = 1\n" and t1.commit == one
        assert (t2.path / "mod.py").read_text() == "x = 2\n" and t1.path != t2.path
    with cache.tree(str(repo) + "/", one) as again:  # the same identity: the same tree
        assert again.path == t1.path
    assert sorted(p.relative_to(repo).as_posix() for p in (repo / ".git").rglob("*")) == before
    assert (repo / "mod.py").read_text() == "x = 2\n"


def test_only_allowed_repositories_and_hex_commits(repo: Path, tmp_path: Path) -> None:
    sha = commit(repo, "x = 1\n")
    other = tmp_path / "other"
    other.mkdir()
    cache = WorkspaceCache(tmp_path / "cache", allow=[str(repo)])
    with pytest.raises(RepoDeniedError), cache.tree(str(other), sha):
        pass
    for bad in ("HEAD", "--upload-pack=touch pwned", "HEAD~1", "", sha + "0"):
        with pytest.raises(UsageError), cache.tree(str(repo), bad):
            pass
    with pytest.raises(NotFoundError), cache.tree(str(repo), "deadbeef"):
        pass
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(UsageError):
        WorkspaceCache(tmp_path / "c2", allow=[])


def test_least_recently_used_trees_are_evicted_but_never_one_in_use(
    repo: Path, tmp_path: Path
) -> None:
    shas = [commit(repo, f"x = {i}\n") for i in range(4)]
    cache = WorkspaceCache(tmp_path / "cache", allow=[str(repo)], max_trees=2)
    with cache.tree(str(repo), shas[0]) as held:
        for sha in shas[1:]:
            with cache.tree(str(repo), sha):
                pass
        assert (held.path / "mod.py").read_text() == "x = 0\n"  # held: kept although oldest
    kept = [e["commit"] for e in cache.trees()]
    assert len(kept) == 2 and shas[3] in kept and shas[1] not in kept
    assert len(list((tmp_path / "cache" / "trees").iterdir())) == 2
    with cache.tree(str(repo), shas[1]) as back:  # evicted trees come back on demand
        assert (back.path / "mod.py").read_text() == "x = 1\n"


def test_a_byte_cap_evicts_too(repo: Path, tmp_path: Path) -> None:
    shas = [commit(repo, f"x = {i}\n" + "#" * 1000) for i in range(3)]
    cache = WorkspaceCache(tmp_path / "cache", allow=[str(repo)], max_bytes=2500)
    for sha in shas:
        with cache.tree(str(repo), sha):
            pass
    assert [e["commit"] for e in cache.trees()] == shas[1:]


def test_a_commit_made_after_the_clone_is_fetched_and_urls_are_cloned_once(
    repo: Path, tmp_path: Path
) -> None:
    first = commit(repo, "x = 1\n")
    url = repo.resolve().as_uri()
    cache = WorkspaceCache(tmp_path / "cache", allow=[str(repo), url + ".git"])
    with cache.tree(str(repo), first):
        pass
    later = commit(repo, "x = 2\n")
    with cache.tree(str(repo), later) as t:
        assert (t.path / "mod.py").read_text() == "x = 2\n"
    with cache.tree(url, first) as t:
        assert (t.path / "mod.py").read_text() == "x = 1\n"
    assert len(list((tmp_path / "cache" / "repos").glob("*.git"))) == 2
