"""``codeprm serve``: the HTTP reward server for RL trainers (parse, build, serve)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import click

from codeprm.cli.call import CallPath, echo
from codeprm.cli.options import reward_options
from codeprm.errors import UsageError


@click.command("serve")
@click.option(
    "--allow",
    "allow",
    multiple=True,
    required=True,
    help=(
        "A repository samples may name (local path or git URL); repeat for several. Nothing "
        "else is ever materialised."
    ),
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (the default is reachable from this machine only).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port (0: any free port; the chosen one is printed).",
)
@click.option(
    "--token-file",
    type=CallPath(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A file holding the bearer token every request must carry.",
)
@click.option(
    "--cache",
    "cache_dir",
    type=CallPath(file_okay=False, path_type=Path),
    default=None,
    help="Where worktrees are materialised (default: <codeprm cache>/workspaces).",
)
@click.option(
    "--max-trees",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Worktrees kept (least recently used evicted first).",
)
@click.option(
    "--max-gib",
    type=click.FloatRange(min=0.001),
    default=8.0,
    show_default=True,
    help="Disk cap of the worktrees, GiB.",
)
@click.option(
    "--max-benches",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Warm language-server sessions kept (one per worktree in use).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Samples scored at once.",
)
@click.option(
    "--sample-timeout",
    type=click.FloatRange(min=0.1),
    default=120.0,
    show_default=True,
    help="Seconds a sample may take; then it gets the timeout reward.",
)
@click.option(
    "--read-timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds a client may stay silent mid-request before it is disconnected.",
)
@click.option(
    "--max-body",
    type=click.IntRange(min=1024),
    default=64 << 20,
    show_default=True,
    help="Largest request body, bytes (413 beyond).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds per language-server request.",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Where the learned PRM runs: auto | cpu | cuda.",
)
@click.option("--verbose", is_flag=True, help="Log every request to stderr.")
@click.option(
    "--ray",
    "use_ray",
    is_flag=True,
    help=(
        "Score on a pool of Ray actors (pip install 'codeprm[ray]'), samples routed by "
        "repository and commit; --workers and --max-benches are per actor."
    ),
)
@click.option(
    "--actors",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="With --ray: reward actors in the pool.",
)
@click.option(
    "--ray-address",
    default=None,
    help=(
        "With --ray: the cluster to join (default: RAY_ADDRESS, else a local Ray started for "
        "this server)."
    ),
)
@click.option(
    "--actor-cpus",
    type=click.FloatRange(min=0.0),
    default=1.0,
    show_default=True,
    help="With --ray: CPUs each actor reserves.",
)
@reward_options(prm_default="auto")
def serve_cmd(
    allow: tuple[str, ...],
    host: str,
    port: int,
    token_file: Path | None,
    cache_dir: Path | None,
    max_trees: int,
    max_gib: float,
    max_benches: int,
    workers: int,
    sample_timeout: float,
    read_timeout: float,
    max_body: int,
    timeout: float,
    device: str,
    verbose: bool,
    use_ray: bool,
    actors: int,
    ray_address: str | None,
    actor_cpus: float,
    weights: str | None,
    formula: str,
    prm: str,
    prm_weight: float,
    prm_form: str,
    exec_mode: str,
    exec_test_cmd: str | None,
    task: str,
) -> None:
    """Serve step rewards over HTTP: OpenRLHF's POST /get_reward, POST /v1/score (bundles),
    GET /health and GET /metrics.

    Each sample names its workspace ({"workspace": {"repo", "commit"}, "edit", "task"}, in
    OpenRLHF's labels); see docs/integrations.md for the contract and the edit-extraction
    rule. Runs until interrupted.
    """
    from codeprm.analysis.learned import load_prm
    from codeprm.integrations.server import RewardHTTPServer
    from codeprm.integrations.service import RewardService, StepBench
    from codeprm.prm.fetch import cache_root
    from codeprm.rewards import Weights
    from codeprm.workspace.cache import WorkspaceCache

    if task:
        raise UsageError("serve takes each sample's task from the sample, not --task")
    token = None
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
        if not token:
            raise UsageError(f"the token file is empty: {token_file}")
    options = {
        "weights": Weights.parse(weights),
        "formula": formula,
        "prm_weight": prm_weight,
        "prm_form": prm_form,
        "exec_mode": exec_mode,
        "test_cmd": exec_test_cmd,
    }
    service: RewardService
    if use_ray:
        service = _pool(
            allow,
            actors=actors,
            cache_dir=cache_dir or cache_root() / "workspaces",
            address=ray_address,
            num_cpus=actor_cpus,
            sample_timeout=sample_timeout,
            max_benches=max_benches,
            workers=workers,
            max_trees=max_trees,
            max_bytes=int(max_gib * (1 << 30)),
            timeout=timeout,
            prm=prm,
            device=device,
            options=options,
        )
    else:
        scorer, _ = load_prm(prm, device)
        cache = WorkspaceCache(
            cache_dir or cache_root() / "workspaces",
            allow=allow,
            max_trees=max_trees,
            max_bytes=int(max_gib * (1 << 30)),
        )
        service = RewardService(
            cache,
            lambda root: StepBench(root, scorer=scorer, options=options, timeout=timeout),
            sample_timeout=sample_timeout,
            max_benches=max_benches,
            workers=workers,
        )
    try:
        server = RewardHTTPServer(
            service,
            host,
            port,
            token=token,
            max_body=max_body,
            verbose=verbose,
            read_timeout=read_timeout,
        )
    except OSError as err:
        service.close()
        raise UsageError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    echo(
        f"codeprm serve: listening on http://{host}:{server.server_address[1]}"
        + (f" ({actors} Ray actors)" if use_ray else ""),
        err=True,
    )
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        service.close()


def _pool(allow: tuple[str, ...], **kwargs: Any) -> Any:
    """A RewardPool (the same scoring surface as a RewardService), its actors ready."""
    try:
        from codeprm.distributed.pool import RewardPool
    except ImportError as err:
        raise UsageError(f"--ray needs Ray: pip install 'codeprm[ray]' ({err})") from err
    pool = RewardPool(allow, **kwargs)
    try:
        pool.wait_ready()
    except Exception:
        pool.close()
        raise
    return pool
