"""verl: ``compute_score`` for ``reward.custom_reward_function`` (sync and async).

Configure verl with ``custom_reward_function.path=pkg://codeprm.integrations.verl`` and
``name=compute_score`` (or ``compute_score_async``), start ``codeprm serve`` and export
``CODEPRM_REWARD_URL``. Each sample's ``extra_info`` carries the workspace contract
(``{"workspace": {"repo", "commit"}, "task"}``, or under the key ``"codeprm"``); the edit
is extracted from ``solution_str`` by the contract's rule. The returned dict carries
``score`` (the step reward) and, for verl's logs, ``codeprm_status`` (ok, no-edit,
invalid, denied, not-found, timeout, error) and the error and learned components.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping
from typing import Any

from codeprm.integrations.client import RewardClient


def _sample(solution_str: str, extra_info: Mapping[str, Any] | None) -> dict[str, Any]:
    """The contract from extra_info (itself, or its "codeprm" key, an object or JSON text);
    what is missing the server reports as an invalid sample."""
    info = dict(extra_info or {})
    meta: Any = info.get("codeprm", info)
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = {}
    if not isinstance(meta, Mapping):
        meta = {}
    return {
        **{k: meta[k] for k in ("workspace", "edit", "task") if k in meta},
        "completion": solution_str,
    }


def _result(result: Mapping[str, Any]) -> dict[str, Any]:
    components = (result.get("bundle") or {}).get("processReward", {}).get("components", {})
    return {
        "score": float(result["reward"]),
        "codeprm_status": result["status"],
        "codeprm_errors": float(components.get("errors", 0.0)),
        "codeprm_prm": float(components.get("prm", 0.0)),
    }


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's reward-function signature; ``url`` / ``token`` may come through kwargs
    (``custom_reward_function.reward_kwargs``)."""
    client = RewardClient.from_env(kwargs.get("url"), kwargs.get("token"))
    (result,) = client.score([_sample(solution_str, extra_info)])
    return _result(result)


async def compute_score_async(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """The same, off the event loop (verl awaits an async reward function)."""
    return await asyncio.to_thread(
        compute_score, data_source, solution_str, ground_truth, extra_info, **kwargs
    )


@functools.cache
def _tool_class() -> type:
    """``CodeprmTool``: the edit tool as a verl ``BaseTool`` (built on first use: needs verl)."""
    from verl.tools.base_tool import BaseTool
    from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

    from codeprm.integrations.tools import TOOL_SCHEMA, EditTool

    class CodeprmTool(BaseTool):  # type: ignore[misc]
        """verl tool config: ``class_name: codeprm.integrations.verl.CodeprmTool``, ``config:
        {url, token}``; the contract goes in ``tools_kwargs.codeprm_edit.create_kwargs``."""

        def __init__(self, config: dict[str, Any], tool_schema: Any = None) -> None:
            super().__init__(
                config, tool_schema or OpenAIFunctionToolSchema.model_validate(TOOL_SCHEMA)
            )
            self._tool = EditTool(config.get("url"), config.get("token"))

        async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, Any]:
            iid, text = await self._tool.create(instance_id, **kwargs)
            return iid, ToolResponse(text=text or None)

        async def execute(
            self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
        ) -> tuple[Any, float, dict[str, Any]]:
            text, reward, metrics = await self._tool.execute(instance_id, parameters)
            return ToolResponse(text=text), reward, metrics

        async def calc_reward(self, instance_id: str, **kwargs: Any) -> float:
            return await self._tool.calc_reward(instance_id)

        async def release(self, instance_id: str, **kwargs: Any) -> None:
            await self._tool.release(instance_id)

    return CodeprmTool


def __getattr__(name: str) -> Any:
    if name == "CodeprmTool":  # verl loads tools by class path: import verl only then
        return _tool_class()
    raise AttributeError(name)
