"""Agents: the planning loop, proposers, the MCP server, agent hooks and the warm daemon."""
