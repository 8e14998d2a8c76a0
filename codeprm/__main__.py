"""``python -m codeprm``: the same entry point as the console script."""

from __future__ import annotations

from codeprm.cli.entry import main

if __name__ == "__main__":
    main()
