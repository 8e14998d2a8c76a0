"""An edit tool for multi-turn RL rollouts: each call applies a diff in an episode and
answers the step reward (the semantics of verl's ``BaseTool``, without verl).

    tool = EditTool(url="http://127.0.0.1:8000")
    iid, text = await tool.create(workspace={"repo": ..., "commit": ...}, task="...")
    text, reward, metrics = await tool.execute(iid, {"edit": "<unified diff>"})
    total = await tool.calc_reward(iid)      # the episode's return (rewards telescope)
    await tool.release(iid)

``codeprm.integrations.verl.CodeprmTool`` wraps it as a verl ``BaseTool`` (it needs verl).
Calls go to ``codeprm serve``'s episode endpoints on a worker thread, so the event loop
of the rollout never blocks on the language server.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from codeprm.integrations.client import RewardClient
from codeprm.integrations.feedback import observation

TOOL_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "codeprm_edit",
        "description": (
            "Apply a unified diff to the repository. Answers what the edit changed (diagnostics "
            "fixed and introduced, or why it was refused). Edits accumulate: each diff applies "
            "to the state the previous ones left."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "edit": {
                    "type": "string",
                    "description": "A unified diff (paths relative to the repository root).",
                }
            },
            "required": ["edit"],
        },
    },
}


@dataclass
class _Instance:
    episode: str | None
    rewards: list[float] = field(default_factory=list)


class EditTool:
    """See the module docstring."""

    def __init__(self, url: str | None = None, token: str | None = None) -> None:
        self.client = RewardClient.from_env(url, token)
        self._instances: dict[str, _Instance] = {}

    async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, str]:
        instance_id = instance_id or str(uuid.uuid4())
        contract = {k: kwargs[k] for k in ("workspace", "task") if k in kwargs}
        opened = await asyncio.to_thread(self.client.start_episode, contract)
        self._instances[instance_id] = _Instance(opened.get("episode"))
        if opened.get("episode") is None:
            return (
                instance_id,
                f"codeprm: no workspace ({opened.get('status')}): "
                f"{opened.get('error', '')}".strip(),
            )
        return instance_id, ""

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[str, float, dict[str, Any]]:
        inst = self._instances.get(instance_id)
        edit = parameters.get("edit") if isinstance(parameters, dict) else None
        if inst is None or inst.episode is None:
            return (
                "codeprm: this rollout has no open workspace",
                0.0,
                {"codeprm_status": "not-found"},
            )
        if not isinstance(edit, str) or not edit.strip():
            return (
                "codeprm: the tool needs an 'edit' (a unified diff)",
                0.0,
                {"codeprm_status": "no-edit"},
            )
        result = await asyncio.to_thread(self.client.step_episode, inst.episode, edit=edit)
        reward = float(result.get("reward", 0.0))
        inst.rewards.append(reward)
        return observation(result), reward, {"codeprm_status": result.get("status")}

    async def calc_reward(self, instance_id: str, **kwargs: Any) -> float:
        inst = self._instances.get(instance_id)
        return sum(inst.rewards) if inst is not None else 0.0

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        inst = self._instances.pop(instance_id, None)
        if inst is not None and inst.episode is not None:
            await asyncio.to_thread(self.client.close_episode, inst.episode)
