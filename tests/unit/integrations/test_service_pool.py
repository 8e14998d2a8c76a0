"""The reward service's bench pool policy (which bench a sample gets), with a scripted bench."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from codeprm.integrations.contract import Sample
from codeprm.integrations.service import RewardService
from codeprm.workspace.cache import WorkspaceCache
from tests.conftest import git


class SlowBench:
    """Answers a fixed bundle after a pause (the pool policy is under test, not scoring)."""

    made: ClassVar[list[Path]] = []
    closed: ClassVar[list[Path]] = []
    lock = threading.Lock()

    def __init__(self, root: Path) -> None:
        self.root = root
        with self.lock:
            self.made.append(root)

    def step(self, edit: str, task: str) -> dict[str, Any]:
        time.sleep(0.3)
        return {"processReward": {"total": 0.0}}

    def start_episode(self) -> Any:
        return None

    def advance(self, episode: Any, edit: str, task: str) -> dict[str, Any]:
        return self.step(edit, task)

    def close(self) -> None:
        with self.lock:
            self.closed.append(self.root)


def test_a_busy_commit_waits_for_its_bench_instead_of_evicting_another_commits(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    shas = []
    for i in range(2):
        (repo / "m.py").write_text(f"x = {i}\n")
        git(repo, "add", "m.py")
        git(repo, "commit", "-qm", str(i))
        shas.append(git(repo, "rev-parse", "HEAD").strip())
    SlowBench.made, SlowBench.closed = [], []
    service = RewardService(
        WorkspaceCache(tmp_path / "cache", allow=[str(repo)]), SlowBench, max_benches=2, workers=4
    )
    try:
        a, b = (Sample(str(repo), sha, "edit") for sha in shas)
        assert [o.status for o in service.score([(a, None)])] == ["ok"]
        assert [o.status for o in service.score([(b, None)])] == [
            "ok"
        ]  # both commits warm, the pool full
        outcomes = service.score([(a, None), (a, None), (a, None)])  # three at once on one commit
        assert [o.status for o in outcomes] == ["ok"] * 3
        assert len(SlowBench.made) == 2 and SlowBench.closed == []  # b's warm bench was not evicted
        assert service.benches() == 2
    finally:
        service.close()
