"""Trajectories: the JSONL step format and importers (git ranges, SWE-agent, OpenHands)."""

from __future__ import annotations

from codeprm.trajectories.model import TRAJECTORY_SCHEMA, Step, read_jsonl, write_jsonl

__all__ = ["TRAJECTORY_SCHEMA", "Step", "read_jsonl", "write_jsonl"]
