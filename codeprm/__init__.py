"""codeprm: machine-checked, step-by-step rewards for coding agents' edits.

Only the version and the public SDK names live here; importing codeprm imports
neither torch nor transformers, nor the language-server stack.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
