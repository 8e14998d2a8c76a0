"""The reward server end to end: samples name a commit of a real git repository, the
real language server scores them, and OpenRLHF's HTTP contract carries the rewards."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeprm.integrations.server import RewardHTTPServer
from codeprm.integrations.service import RewardService, StepBench
from codeprm.workspace.cache import WorkspaceCache
from tests.conftest import git

pytestmark = pytest.mark.e2e

BUGGY = 'count: int = "none yet"\n\n\ndef double(x: int) -> int:\n    return 2 * x\n'
FIX = '--- a/shop.py\n+++ b/shop.py\n@@ -1 +1 @@\n-count: int = "none yet"\n+count: int = 0\n'
BREAK = "--- a/shop.py\n+++ b/shop.py\n@@ -5 +5 @@\n-    return 2 * x\n+    return 2 * y\n"
HANG = '''--- a/shop.py
+++ b/shop.py
@@ -4,2 +4,7 @@
 def double(x: int) -> int:
+    """
+    >>> while True: pass
+    """
+    while True:
+        pass
     return 2 * x
'''


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    r = tmp_path_factory.mktemp("upstream")
    git(r, "init", "-q")
    (r / "shop.py").write_text(BUGGY)
    (r / "pyrightconfig.json").write_text('{"typeCheckingMode": "standard"}\n')
    git(r, "add", ".")
    git(r, "commit", "-qm", "buggy")
    return r, git(r, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def server(
    repo: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RewardHTTPServer]:
    cache = WorkspaceCache(tmp_path_factory.mktemp("cache"), allow=[str(repo[0])])
    service = RewardService(
        cache,
        lambda root: StepBench(root, options={"exec_mode": "doctest", "exec_timeout": 60.0}),
        sample_timeout=45.0,
    )
    srv = RewardHTTPServer(service, port=0, token="s3cret", max_body=1 << 16, read_timeout=2.0)
    srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    service.close()


def call(
    srv: RewardHTTPServer,
    path: str,
    body: Any = None,
    token: str | None = "s3cret",
    raw: bytes | None = None,
) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{srv.server_address[1]}{path}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            payload = resp.read().decode()
            return resp.status, json.loads(
                payload
            ) if resp.headers.get_content_type() == "application/json" else payload
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read().decode())


def label(repo: tuple[Path, str], **extra: Any) -> dict[str, Any]:
    return {"workspace": {"repo": str(repo[0]), "commit": repo[1]}, **extra}


def test_openrlhf_get_reward_scores_each_completion(
    server: RewardHTTPServer, repo: tuple[Path, str], tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere"
    prompts = [
        "Fix shop.py.\n",
        "Fix shop.py.\n",
        "Fix shop.py.\n",
        "Fix shop.py.\n",
        "Fix shop.py.\n",
    ]
    completions = [
        f"```diff\n{FIX}```",
        f"```diff\n{BREAK}```",
        "I am not sure.",
        "```diff\n--- a/shop.py\n+++ b/shop.py\n@@ -9 +9 @@\n-nope\n+x\n```",
        f"```diff\n{FIX}```",
    ]
    labels = [
        label(repo),
        json.dumps(label(repo)),
        label(repo),
        label(repo),
        {"workspace": {"repo": str(other), "commit": repo[1]}},
    ]
    status, body = call(
        server,
        "/get_reward",
        {
            "query": [p + c for p, c in zip(prompts, completions, strict=True)],
            "prompts": prompts,
            "labels": labels,
        },
    )
    assert status == 200, body
    assert body["extra_logs"]["codeprm_status"] == ["ok", "ok", "no-edit", "invalid", "denied"]
    fix, broken, none, invalid, denied = body["rewards"]
    assert (
        fix == pytest.approx(0.5)
        and broken < 0
        and none == 0.0
        and invalid == -0.5
        and denied == 0.0
    )
    assert body["scores"] == body["rewards"]
    # the upstream repository is untouched: scoring happens in the cache's worktree
    assert (repo[0] / "shop.py").read_text() == BUGGY and git(
        repo[0], "status", "--porcelain"
    ) == ""


def test_native_endpoint_returns_bundles_like_codeprm_step(
    server: RewardHTTPServer, repo: tuple[Path, str]
) -> None:
    status, body = call(
        server, "/v1/score", {"samples": [label(repo, edit=FIX, task="fix the type error")]}
    )
    assert status == 200
    (result,) = body["results"]
    assert result["status"] == "ok" and result["reward"] == pytest.approx(0.5)
    bundle = result["bundle"]
    assert (
        bundle["processReward"]["total"] == result["reward"] and len(bundle["facts"]["fixed"]) == 1
    )
    again = call(
        server, "/v1/score", {"samples": [label(repo, edit=FIX, task="fix the type error")]}
    )[1]
    assert again["results"][0]["bundle"]["bundleId"] == bundle["bundleId"]  # deterministic


def test_a_slow_sample_times_out_without_stalling_the_batch(
    repo: tuple[Path, str], tmp_path: Path
) -> None:
    cache = WorkspaceCache(tmp_path / "cache", allow=[str(repo[0])])
    service = RewardService(
        cache,
        lambda root: StepBench(root, options={"exec_mode": "doctest", "exec_timeout": 60.0}),
        sample_timeout=20.0,
        workers=2,
    )
    try:
        from codeprm.integrations.contract import parse_sample

        hang, quick = (
            parse_sample(label(repo, edit=HANG)),
            parse_sample(label(repo, edit="not a diff at all")),
        )
        outcomes = service.score([(hang, None), (quick, None)])
        assert [o.status for o in outcomes] == ["timeout", "invalid"], [o.error for o in outcomes]
        assert outcomes[0].reward == 0.0 and outcomes[1].reward == -0.5
        metrics = service.metrics.text(service.benches())
        assert 'codeprm_samples_total{status="timeout"} 1' in metrics
    finally:
        service.close()


def test_the_server_refuses_what_it_must(server: RewardHTTPServer) -> None:
    assert call(server, "/health", token=None)[0] == 401
    assert call(server, "/health", token="wrong")[0] == 401
    status, body = call(server, "/health")
    assert status == 200 and body["status"] == "ok"
    assert call(server, "/v1/score", raw=b"x" * (1 << 17))[0] == 413
    assert call(server, "/v1/score", raw=b"{not json")[0] == 400
    assert call(server, "/get_reward", {"query": ["a"], "labels": []})[0] == 400
    assert call(server, "/nowhere", {})[0] == 404
    status, text = call(server, "/metrics")
    assert status == 200 and "codeprm_samples_total" in text


def test_codeprm_serve_runs_until_terminated(repo: tuple[Path, str], tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    token = tmp_path / "token"
    token.write_text("tok\n")
    env = {**os.environ, "CODEPRM_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "codeprm",
            "serve",
            "--allow",
            str(repo[0]),
            "--port",
            "0",
            "--prm",
            "none",
            "--token-file",
            str(token),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        port = int(line.rsplit(":", 1)[1])
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/score",
            data=json.dumps({"samples": [label(repo, edit=FIX)]}).encode(),
        )
        req.add_header("Authorization", "Bearer tok")
        with urllib.request.urlopen(req, timeout=120) as resp:
            assert json.loads(resp.read())["results"][0]["reward"] == pytest.approx(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert (tmp_path / "cache" / "workspaces" / "index.json").exists()


def test_trainer_adapters_speak_to_the_server(
    server: RewardHTTPServer, repo: tuple[Path, str]
) -> None:
    import asyncio

    from codeprm.integrations import trl, verl

    url = f"http://127.0.0.1:{server.server_address[1]}"
    info = label(repo, task="fix the type error")
    got = verl.compute_score(
        "codeprm", f"```diff\n{FIX}```", None, extra_info=info, url=url, token="s3cret"
    )
    assert (
        got["score"] == pytest.approx(0.5)
        and got["codeprm_status"] == "ok"
        and got["codeprm_errors"] == pytest.approx(0.5)
    )
    nested = {"codeprm": json.dumps(info), "index": 3}  # under its own key, as JSON text
    got = asyncio.run(
        verl.compute_score_async(
            "codeprm", f"```diff\n{BREAK}```", None, extra_info=nested, url=url, token="s3cret"
        )
    )
    assert got["score"] < 0 and got["codeprm_status"] == "ok"
    missing = verl.compute_score(
        "codeprm", f"```diff\n{FIX}```", None, extra_info={"index": 1}, url=url, token="s3cret"
    )
    assert missing["score"] == 0.0 and missing["codeprm_status"] == "bad-sample"

    reward = trl.reward_function(url=url, token="s3cret")
    completions = [
        [{"role": "assistant", "content": f"```diff\n{FIX}```"}],
        "no idea",
        f"```diff\n{FIX}```",
    ]
    rewards = reward(["p"] * 3, completions, None, codeprm=[info, json.dumps(info), None])
    assert rewards[0] == pytest.approx(0.5) and rewards[1] == 0.0 and rewards[2] is None
    assert reward.__name__ == "codeprm_reward"

    dead = trl.reward_function(url="http://127.0.0.1:9", token="x")  # nothing listens: no exception
    from codeprm.integrations.client import RewardClient

    assert (
        RewardClient("http://127.0.0.1:9", retries=1, backoff=0.01).score([info])[0]["status"]
        == "error"
    )
    assert callable(dead)


UNBREAK = "--- a/shop.py\n+++ b/shop.py\n@@ -5 +5 @@\n-    return 2 * y\n+    return 2 * x\n"


def test_episodes_score_each_turn_from_the_state_the_last_left(
    server: RewardHTTPServer, repo: tuple[Path, str]
) -> None:
    from codeprm.integrations.client import RewardClient

    client = RewardClient(f"http://127.0.0.1:{server.server_address[1]}", "s3cret")
    opened = client.start_episode(label(repo, task="fix shop.py"))
    assert opened["status"] == "ok" and opened["episode"]
    ep = opened["episode"]
    r1 = client.step_episode(ep, edit=BREAK)
    r2 = client.step_episode(
        ep, completion=f"undo:\n```diff\n{UNBREAK}```"
    )  # applies only after BREAK
    r3 = client.step_episode(ep, edit=FIX)
    assert [r["status"] for r in (r1, r2, r3)] == ["ok", "ok", "ok"]
    assert (
        r1["reward"] == pytest.approx(-0.5)
        and r2["reward"] == pytest.approx(0.5)
        and r3["reward"] == pytest.approx(0.5)
    )
    assert (
        client.step_episode(ep, edit=FIX)["status"] == "invalid"
    )  # already applied: nothing moves
    client.close_episode(ep)
    assert client.step_episode(ep, edit=FIX)["status"] == "not-found"


def test_skyrl_environment_turn_rewards(server: RewardHTTPServer, repo: tuple[Path, str]) -> None:
    from codeprm.integrations.skyrl import CodeprmEnv

    url = f"http://127.0.0.1:{server.server_address[1]}"
    env = CodeprmEnv(
        {"url": url, "token": "s3cret"},
        {"extra_info": {"codeprm": json.dumps(label(repo))}, "max_turns": 3},
    )
    prompt, meta = env.init([{"role": "user", "content": "Fix shop.py"}])
    assert meta["codeprm_status"] == "ok" and prompt[0]["content"] == "Fix shop.py"
    first = env.step(f"```diff\n{BREAK}```")
    assert first["reward"] == pytest.approx(-0.5) and first["done"] is False
    assert (
        "1 introduced" in first["observations"][0]["content"]
        and "shop.py:5" in first["observations"][0]["content"]
    )
    second = env.step(f"```diff\n{UNBREAK}```")
    assert (
        second["reward"] == pytest.approx(0.5)
        and "0 introduced" in second["observations"][0]["content"]
    )
    third = env.step("I am done.")
    assert third["done"] is True and third["reward"] == 0.0
    assert env.get_metrics() == {
        "turns": 3,
        "codeprm_return": pytest.approx(0.0),
        "codeprm_scored": 2,
    }
    env.close()


def test_a_slow_client_is_cut_off_and_others_are_served(
    server: RewardHTTPServer, repo: tuple[Path, str]
) -> None:
    import socket
    import time

    slow = socket.create_connection(("127.0.0.1", server.server_address[1]))
    slow.sendall(b"POST /v1/score HTTP/1.1\r\nContent-Length: 1000\r\n")  # and then nothing
    started = time.monotonic()
    status, body = call(server, "/health")  # served meanwhile
    assert status == 200 and time.monotonic() - started < 2.0
    slow.settimeout(20)
    assert slow.recv(1024) == b""  # the server hung up on it
    slow.close()
    # the server still scores after the slow client, and never reads outside its allow-list
    status, body = call(
        server,
        "/v1/score",
        {"samples": [{"workspace": {"repo": "/etc", "commit": repo[1]}, "edit": FIX}]},
    )
    assert status == 200 and body["results"][0]["status"] == "denied"


def test_the_edit_tool_gives_a_reward_per_call(
    server: RewardHTTPServer, repo: tuple[Path, str]
) -> None:
    import asyncio

    from codeprm.integrations.tools import TOOL_SCHEMA, EditTool

    async def rollout() -> tuple[list[float], float, str]:
        tool = EditTool(f"http://127.0.0.1:{server.server_address[1]}", "s3cret")
        iid, text = await tool.create(None, workspace=label(repo)["workspace"], task="fix shop.py")
        assert text == ""
        rewards = []
        for edit in (BREAK, UNBREAK, FIX):
            response, reward, metrics = await tool.execute(iid, {"edit": edit})
            assert metrics["codeprm_status"] == "ok" and response.startswith("codeprm: reward")
            rewards.append(reward)
        missing = await tool.execute(iid, {})
        total = await tool.calc_reward(iid)
        await tool.release(iid)
        gone = await tool.execute(iid, {"edit": FIX})
        return rewards, total, missing[0] + "|" + gone[0]

    rewards, total, refusals = asyncio.run(rollout())
    assert rewards == [pytest.approx(-0.5), pytest.approx(0.5), pytest.approx(0.5)]
    assert total == pytest.approx(0.5)  # the return equals going straight to the fix
    assert "needs an 'edit'" in refusals and "no open workspace" in refusals
    assert TOOL_SCHEMA["function"]["parameters"]["required"] == ["edit"]


def _histogram(text: str, stage: str) -> tuple[int, float]:
    """The count and sum of ``codeprm_stage_seconds`` for one stage, from Prometheus text."""
    import re

    count = re.search(rf'^codeprm_stage_seconds_count\{{stage="{stage}"\}} (\S+)$', text, re.M)
    total = re.search(rf'^codeprm_stage_seconds_sum\{{stage="{stage}"\}} (\S+)$', text, re.M)
    assert count and total, f"no histogram for stage {stage}"
    return int(count.group(1)), float(total.group(1))


def test_metrics_carry_per_stage_timings(server: RewardHTTPServer, repo: tuple[Path, str]) -> None:
    before = call(server, "/metrics")[1]
    stages = ("queue", "workspace", "apply", "diagnostics", "total")
    counts = {s: _histogram(before, s) for s in stages}
    status, body = call(
        server,
        "/v1/score",
        {"samples": [label(repo, edit=FIX), label(repo, edit="not a diff at all")]},
    )
    assert status == 200
    ok, invalid = body["results"]
    assert ok["status"] == "ok" and invalid["status"] == "invalid"
    # the step's own stages are in its bundle's meta (never in its id), and in the result
    step = ok["bundle"]["meta"]["stagesMs"]
    assert {"apply", "diagnostics"} <= set(step) and step["diagnostics"] > 0
    assert sum(step.values()) <= ok["seconds"] * 1000 + 1  # (seconds are rounded to ms)
    assert set(ok["stages"]) >= {"queue", "workspace", "apply", "diagnostics"}
    assert ok["stages"]["diagnostics"] == pytest.approx(step["diagnostics"] / 1000, abs=1e-6)
    assert sum(ok["stages"].values()) <= ok["seconds"] + ok["stages"]["queue"] + 2e-3
    after = call(server, "/metrics")[1]
    assert "# TYPE codeprm_stage_seconds histogram" in after
    grown = {s: _histogram(after, s)[0] - counts[s][0] for s in stages}
    # both samples waited for a worker, got a bench and count in total; only the scored
    # one reached the step's stages (the other failed in apply, before any bundle)
    assert grown == {"queue": 2, "workspace": 2, "apply": 1, "diagnostics": 1, "total": 2}
    assert _histogram(after, "diagnostics")[1] > counts["diagnostics"][1]
    assert (
        f'codeprm_stage_seconds_bucket{{stage="total",le="+Inf"}} {counts["total"][0] + 2}' in after
    )
