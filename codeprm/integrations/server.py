"""``codeprm serve``: the HTTP reward server (OpenRLHF's remote reward contract, and our own).

Endpoints:

* ``POST /get_reward`` - OpenRLHF's ``--reward.remote_url`` contract:
  ``{"query": [...], "prompts": [...], "labels": [...]}`` answered by
  ``{"rewards": [...], "scores": [...], "extra_logs": {...}}``. ``labels[i]`` is sample
  i's metadata (``integrations.contract``; an object or its JSON text); the completion is
  ``query[i]`` less its prompt ``prompts[i]`` (the whole query when it does not start
  with it), and the edit is extracted from it by the contract's rule unless the label
  carries one. ``extra_logs`` holds per-sample lists: ``codeprm_status`` and the
  deterministic and learned components.
* ``POST /v1/score`` - native: ``{"samples": [{"workspace": ..., "edit": ..., "task": ...,
  "completion": ...}]}`` answered by ``{"results": [Outcome...]}`` with each bundle.
* ``POST /v1/episodes`` - open a multi-turn episode at a sample's commit
  (``{"workspace": ..., "task": ...}``), answered by ``{"episode": id, "status": ...}``;
  ``POST /v1/episodes/<id>/step`` with ``{"edit": ...}`` or ``{"completion": ...}``
  scores one turn from the state the earlier turns left (an Outcome, with its bundle);
  ``DELETE /v1/episodes/<id>`` closes it (idle episodes expire by themselves).
* ``GET /health`` - ``{"status": "ok", "version": ...}``; ``GET /metrics`` - Prometheus text:
  samples by outcome, warm benches, and a histogram of seconds per stage
  (``codeprm_stage_seconds{stage=...}``: ``service.STAGE_NAMES`` and ``total``).

Safety: binds 127.0.0.1 unless told otherwise; an optional bearer token (compared in
constant time); request bodies over ``max_body`` bytes get 413; a client that sends
nothing for ``read_timeout`` seconds is disconnected; only repositories on the
service's allow-list are ever materialised (a request never names an arbitrary path);
each sample is bounded by the service's per-sample timeout.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from codeprm import __version__
from codeprm.errors import UsageError
from codeprm.integrations.contract import Sample, parse_sample
from codeprm.integrations.service import Outcome, RewardService
from codeprm.safejson import loads as safe_loads

MAX_BODY = 64 << 20


def completion_of(query: str, prompt: str | None) -> str:
    """OpenRLHF sends prompt + response as the query: the response is what follows the prompt."""
    if prompt and query.startswith(prompt):
        return query[len(prompt) :]
    return query


def _extra_logs(outcomes: Sequence[Outcome]) -> dict[str, list[Any]]:
    def component(o: Outcome, name: str) -> float:
        if o.bundle is None:
            return 0.0
        return float(o.bundle["processReward"].get("components", {}).get(name, 0.0))

    return {
        "codeprm_status": [o.status for o in outcomes],
        "codeprm_errors": [component(o, "errors") for o in outcomes],
        "codeprm_prm": [component(o, "prm") for o in outcomes],
        "codeprm_seconds": [round(o.seconds, 3) for o in outcomes],
    }


class _Handler(BaseHTTPRequestHandler):
    server: RewardHTTPServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = (
            self.server.read_timeout
        )  # a slow or silent client is cut off, never holds a thread forever
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8"))

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _authorised(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        given = self.headers.get("Authorization", "")
        ok = hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), f"Bearer {token}".encode()
        )
        if not ok:
            self._error(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token")
        return ok

    def do_GET(self) -> None:
        if not self._authorised():
            return
        if self.path == "/health":
            self._json(HTTPStatus.OK, {"status": "ok", "version": __version__})
        elif self.path == "/metrics":
            text = self.server.service.metrics.text(self.server.service.benches())
            self._send(HTTPStatus.OK, text.encode(), "text/plain; version=0.0.4")
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: {self.path}")

    def do_DELETE(self) -> None:
        if not self._authorised():
            return
        if self.path.startswith("/v1/episodes/"):
            self._json(
                HTTPStatus.OK,
                {"closed": self.server.service.close_episode(self.path[len("/v1/episodes/") :])},
            )
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: {self.path}")

    def do_POST(self) -> None:
        if not self._authorised():
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(HTTPStatus.LENGTH_REQUIRED, "a request needs a Content-Length")
            return
        if length < 0 or length > self.server.max_body:
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request body over {self.server.max_body} bytes",
            )
            self.close_connection = True
            return
        try:
            body = safe_loads(self.rfile.read(length).decode("utf-8"))
            if self.path == "/get_reward":
                self._json(HTTPStatus.OK, self._get_reward(body))
            elif self.path == "/v1/score":
                self._json(HTTPStatus.OK, self._native(body))
            elif self.path == "/v1/episodes":
                episode_id, outcome = self.server.service.start_episode(parse_sample(body))
                self._json(HTTPStatus.OK, {"episode": episode_id, **outcome.to_json()})
            elif self.path.startswith("/v1/episodes/") and self.path.endswith("/step"):
                episode_id = self.path[len("/v1/episodes/") : -len("/step")]
                if not isinstance(body, Mapping):
                    raise UsageError("an episode step needs {'edit': ...} or {'completion': ...}")
                edit, completion = body.get("edit"), body.get("completion")
                if not (edit is None or isinstance(edit, str)) or not (
                    completion is None or isinstance(completion, str)
                ):
                    raise UsageError("an episode step's edit and completion must be strings")
                self._json(
                    HTTPStatus.OK,
                    self.server.service.advance_episode(episode_id, edit, completion).to_json(),
                )
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: {self.path}")
        except (UsageError, UnicodeDecodeError, ValueError) as err:
            message = err.one_line() if isinstance(err, UsageError) else str(err)
            self._error(
                HTTPStatus.BAD_REQUEST, message.splitlines()[0] if message else "bad request"
            )

    def _samples(self, labels: Sequence[Any]) -> list[Sample | Outcome]:
        out: list[Sample | Outcome] = []
        for label in labels:
            try:
                out.append(parse_sample(label))
            except UsageError as err:
                out.append(
                    Outcome(
                        "bad-sample",
                        self.server.service.failure_rewards["bad-sample"],
                        error=err.one_line(),
                    )
                )
        return out

    def _run(
        self, parsed: list[Sample | Outcome], completions: Sequence[str | None]
    ) -> list[Outcome]:
        todo = [(s, completions[i]) for i, s in enumerate(parsed) if isinstance(s, Sample)]
        scored = iter(self.server.service.score(todo))
        return [next(scored) if isinstance(s, Sample) else s for s in parsed]

    def _get_reward(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping) or not isinstance(body.get("query"), list):
            raise UsageError("get_reward needs {'query': [...], 'prompts': [...], 'labels': [...]}")
        queries: list[Any] = body["query"]
        prompts = body.get("prompts") or [None] * len(queries)
        labels = body.get("labels")
        if (
            not isinstance(labels, list)
            or len(labels) != len(queries)
            or len(prompts) != len(queries)
        ):
            raise UsageError(
                "get_reward needs one label (the sample's workspace) and one prompt per query"
            )
        if not all(isinstance(q, str) for q in queries) or not all(
            p is None or isinstance(p, str) for p in prompts
        ):
            raise UsageError("get_reward's queries and prompts must be strings")
        completions = [completion_of(q, p) for q, p in zip(queries, prompts, strict=True)]
        outcomes = self._run(self._samples(labels), completions)
        rewards = [o.reward for o in outcomes]
        return {"rewards": rewards, "scores": rewards, "extra_logs": _extra_logs(outcomes)}

    def _native(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping) or not isinstance(body.get("samples"), list):
            raise UsageError("/v1/score needs {'samples': [...]}")
        items: list[Any] = body["samples"]
        completions = [
            it.get("completion")
            if isinstance(it, Mapping) and isinstance(it.get("completion"), str)
            else None
            for it in items
        ]
        outcomes = self._run(self._samples(items), completions)
        return {"results": [o.to_json() for o in outcomes]}


class RewardHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server around one RewardService."""

    daemon_threads = True

    def __init__(
        self,
        service: RewardService,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        token: str | None = None,
        max_body: int = MAX_BODY,
        verbose: bool = False,
        read_timeout: float = 30.0,
    ) -> None:
        self.service = service
        self.read_timeout = read_timeout
        self.token = token
        self.max_body = max_body
        self.verbose = verbose
        super().__init__((host, port), _Handler)

    def start(self) -> threading.Thread:
        """Serve on a background thread (tests, Ray actors); ``shutdown()`` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="codeprm-serve", daemon=True)
        thread.start()
        return thread
