"""A client of ``codeprm serve``'s native endpoint, for the trainer adapters.

The adapters keep no warm state in the trainer's process: a reward server (one per node,
or one behind each Ray actor) owns the workspaces and the language servers, and the
adapters send it samples. Configured by arguments or by the environment:
``CODEPRM_REWARD_URL`` (e.g. ``http://127.0.0.1:8000``) and ``CODEPRM_REWARD_TOKEN``.
A request that fails (connection refused, a 5xx) is retried with backoff; every sample
of a batch that still fails gets ``error`` with reward 0.0, never an exception in the
trainer (a trainer retrying a whole step for one sample is the failure mode to avoid).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from codeprm.errors import UsageError


@dataclass(frozen=True)
class RewardClient:
    url: str
    token: str | None = None
    timeout: float = 180.0
    retries: int = 3
    backoff: float = 0.5

    @classmethod
    def from_env(cls, url: str | None = None, token: str | None = None) -> RewardClient:
        url = url or os.environ.get("CODEPRM_REWARD_URL")
        if not url:
            raise UsageError(
                "no reward server: pass url= or set CODEPRM_REWARD_URL (see 'codeprm serve')"
            )
        return cls(url.rstrip("/"), token or os.environ.get("CODEPRM_REWARD_TOKEN") or None)

    def _call(self, method: str, path: str, body: Any = None) -> tuple[Any, str]:
        """The decoded answer (None on failure) and the last error, retried with backoff
        on connection errors and 5xx."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        last = ""
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.url + path, data=data, method=method)
            req.add_header("Content-Type", "application/json")
            if self.token:
                req.add_header("Authorization", f"Bearer {self.token}")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8")), ""
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code}: {err.read().decode('utf-8', 'replace')[:200]}"
                if err.code < 500:  # our request is wrong: retrying will not help
                    break
            except (OSError, ValueError) as err:
                last = f"{type(err).__name__}: {err}"
            if attempt < self.retries:
                time.sleep(self.backoff * (2**attempt))
        return None, last

    def score(self, samples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """POST the samples to /v1/score; one result (status, reward, bundle...) per sample."""
        answer, last = self._call("POST", "/v1/score", {"samples": list(samples)})
        results = answer.get("results") if isinstance(answer, dict) else None
        if isinstance(results, list) and len(results) == len(samples):
            return results
        if answer is not None:
            last = "the server's answer does not hold one result per sample"
        return [{"status": "error", "reward": 0.0, "error": last} for _ in samples]

    def start_episode(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        """Open an episode: ``{"episode": id or None, "status", "reward", ...}``."""
        answer, last = self._call("POST", "/v1/episodes", dict(sample))
        return (
            answer
            if isinstance(answer, dict)
            else {"episode": None, "status": "error", "reward": 0.0, "error": last}
        )

    def step_episode(
        self, episode: str, *, edit: str | None = None, completion: str | None = None
    ) -> dict[str, Any]:
        """Score one turn: ``{"status", "reward", "bundle"?, "error"?}``."""
        body = {k: v for k, v in (("edit", edit), ("completion", completion)) if v is not None}
        answer, last = self._call("POST", f"/v1/episodes/{episode}/step", body)
        return (
            answer
            if isinstance(answer, dict)
            else {"status": "error", "reward": 0.0, "error": last}
        )

    def close_episode(self, episode: str) -> None:
        self._call("DELETE", f"/v1/episodes/{episode}")
