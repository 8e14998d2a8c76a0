"""SkyRL: a text environment whose every turn's edit earns its step reward.

    import skyrl_gym
    skyrl_gym.register(id="codeprm", entry_point="codeprm.integrations.skyrl:CodeprmEnv")

Each dataset row's ``extra_info`` carries the workspace contract (itself, or under
``"codeprm"``: ``{"workspace": {"repo", "commit"}, "task"}``); ``env_config`` may give
``url``, ``token`` and ``max_turns`` (else ``CODEPRM_REWARD_URL`` /
``CODEPRM_REWARD_TOKEN``, and ``extras["max_turns"]`` or 5). ``init`` opens an episode on
``codeprm serve`` at that commit; each ``step(action)`` extracts the edit from the
model's text (the contract's rule), scores it from the state the earlier turns left, and
answers the reward with a short observation of what changed (errors fixed and
introduced, or why the edit was refused), so the model can react. A turn without an
edit ends the episode with reward 0 (doing nothing earns nothing); so does the last turn.
The rewards of an episode telescope: their sum is the reward of going from the commit
straight to the final state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput

from codeprm.integrations.client import RewardClient
from codeprm.integrations.contract import extract_edit
from codeprm.integrations.feedback import observation


def _contract(extras: Mapping[str, Any]) -> dict[str, Any]:
    info: Any = extras.get("extra_info") or {}
    if isinstance(info, Mapping) and "codeprm" in info:
        info = info["codeprm"]
    if isinstance(info, str):
        try:
            info = json.loads(info)
        except ValueError:
            info = {}
    return {k: info[k] for k in ("workspace", "task") if isinstance(info, Mapping) and k in info}


class CodeprmEnv(BaseTextEnv):
    """See the module docstring."""

    def __init__(self, env_config: Any = None, extras: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        config: Mapping[str, Any] = env_config if isinstance(env_config, Mapping) else {}
        extras = extras or {}
        self.client = RewardClient.from_env(config.get("url"), config.get("token"))
        self.contract = _contract(extras)
        self.max_turns = int(
            extras.get("max_turns")
            or config.get("max_turns")
            or os.environ.get("CODEPRM_MAX_TURNS")
            or 5
        )
        self.episode: str | None = None
        self.rewards: list[float] = []
        self.statuses: list[str] = []

    def init(self, prompt: Any) -> tuple[Any, dict[str, Any]]:
        opened = self.client.start_episode(self.contract)
        self.episode = opened.get("episode")
        return prompt, {"codeprm_episode": self.episode, "codeprm_status": opened.get("status")}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        self.turns += 1
        edit = extract_edit(action)
        if edit is None or self.episode is None:
            status = "no-edit" if self.episode is not None else "no-episode"
            self.statuses.append(status)
            return BaseTextEnvStepOutput(
                observations=[], reward=0.0, done=True, metadata={"codeprm_status": status}
            )
        result = self.client.step_episode(self.episode, edit=edit)
        reward = float(result.get("reward", 0.0))
        self.rewards.append(reward)
        self.statuses.append(str(result.get("status")))
        done = self.turns >= self.max_turns
        observations = [] if done else [{"role": "user", "content": observation(result)}]
        return BaseTextEnvStepOutput(
            observations=observations,
            reward=reward,
            done=done,
            metadata={"codeprm_status": result.get("status")},
        )

    def close(self) -> None:
        if self.episode is not None:
            self.client.close_episode(self.episode)
            self.episode = None

    def get_metrics(self) -> dict[str, Any]:
        return {
            "turns": self.turns,
            "codeprm_return": sum(self.rewards),
            "codeprm_scored": sum(1 for s in self.statuses if s == "ok"),
        }
