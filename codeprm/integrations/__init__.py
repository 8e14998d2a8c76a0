"""Adapters for RL trainers: the sample contract, the reward service and ``codeprm serve``.

Front doors over the library; nothing here is imported by ``import codeprm``.
"""
