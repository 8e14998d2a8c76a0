"""Loading the learned PRM for ``--prm`` (torch only when asked), and its fitted weights.

Nothing is cached here: a Workbench keeps the scorer it loaded for as long as it lives
(a daemon or MCP server keeps the model warm between calls through its Workbench).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from codeprm.errors import NotFoundError, UsageError
from codeprm.rewards.combiner import Combiner
from codeprm.rewards.functional import Weights

DEFAULT_PRM_WEIGHT = 1.0


def load_prm(choice: str, device: str) -> tuple[Any, str | None]:
    """The scorer for --prm (auto: the fetched default when torch and it are present;
    realfix: the shipped fine-tuned delta over it)."""
    if choice == "none":
        return None, "disabled (--prm none)"
    if (
        importlib.util.find_spec("torch") is None
        or importlib.util.find_spec("transformers") is None
    ):
        if choice == "auto":
            return None, "torch/transformers not installed"
        raise UsageError(
            "--prm needs torch and transformers: pip install 'codeprm[prm]' torch==2.13.0"
        )
    from codeprm.prm import load_scorer

    try:
        if choice == "realfix":
            from codeprm.prm.infer import realfix_checkpoint_dir

            scorer = load_scorer(realfix_checkpoint_dir(), device)
        else:
            scorer = load_scorer(None if choice in ("auto", "default") else choice, device)
    except NotFoundError as err:
        if choice == "auto":
            return None, err.one_line()
        raise
    return scorer, None


def prm_key(choice: str, device: str) -> tuple[str, str]:
    """Which loaded scorer a choice names (auto and default are the same checkpoint)."""
    return (choice if choice not in ("auto", "default") else "default", device)


def reward_weights(
    scorer: Any, weights: str | None, prm_weight: float | None, prm_form: str = "potential-v1"
) -> tuple[Weights, float]:
    """The reward's weights: what the user gave, else the checkpoint's fitted combiner, else the
    built-in defaults.

    ``weights`` (``--weights``) and ``prm_weight`` (``--prm-weight``) each win over the
    checkpoint when given (None: not given). The combiner (``CheckpointMeta.combiner``) is
    fitted for the potential form; with ``step-v1`` or without a PRM the built-in defaults hold.
    Bundles record the weights used, so a replay needs no checkpoint.
    """
    combiner = checkpoint_combiner(scorer) if prm_form == "potential-v1" else None
    w = (
        Weights.parse(weights)
        if weights is not None
        else (combiner.weights if combiner is not None else Weights())
    )
    pw = (
        float(prm_weight)
        if prm_weight is not None
        else (combiner.prm_weight if combiner is not None else DEFAULT_PRM_WEIGHT)
    )
    return w, pw


def checkpoint_combiner(scorer: Any) -> Combiner | None:
    """The fitted combiner recorded in a loaded scorer's checkpoint metadata, if any."""
    meta = getattr(scorer, "meta", None) if scorer is not None else None
    data = getattr(meta, "combiner", None)
    return Combiner.from_json(data) if data else None
