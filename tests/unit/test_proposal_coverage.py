"""benchmarks/proposal_coverage.py: one-line patches read, reversed, classified and measured."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def cov() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "proposal_coverage.py"
    spec = importlib.util.spec_from_file_location("proposal_coverage", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["proposal_coverage"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


FIXED = "import os\n\n\nclass Store:\n    def items(self, info):\n        return info.kind, info.value, info.tb\n"
PATCH = """\
diff --git a/pkg/store.py b/pkg/store.py
index 1111111..2222222 100644
--- a/pkg/store.py
+++ b/pkg/store.py
@@ -4,3 +4,3 @@ import os
 class Store:
     def items(self, info):
-        return info.value, info.kind, info.tb
+        return info.kind, info.value, info.tb
"""


def test_a_one_line_patch_is_read_reversed_and_its_fix_proposed(cov: ModuleType) -> None:
    change = cov.one_line_change(PATCH)
    assert change == (
        "pkg/store.py",
        6,
        "        return info.value, info.kind, info.tb",
        "        return info.kind, info.value, info.tb",
    )
    buggy, line = cov.reverse(FIXED, change[1], change[2], change[3])
    assert buggy == FIXED.replace("info.kind, info.value", "info.value, info.kind") and line == 5
    assert cov.classify(change[2], change[3]) == "swapped"
    [outcome] = cov.measure([cov.Bug("p/1", "pkg/store.py", buggy, FIXED, line, "swapped")])
    assert outcome.covered and 1 <= outcome.position <= outcome.candidates
    # a changed string literal is beyond a mutation proposer: measured as a miss
    other = FIXED.replace("info.tb", "info.tb, 'x'")
    [miss] = cov.measure(
        [cov.Bug("p/2", "pkg/store.py", other.replace("'x'", "'y'"), other, 5, "string-literal")]
    )
    assert not miss.covered and miss.position == 0 and miss.candidates > 0


def test_patches_that_are_not_one_line_of_one_source_file_are_skipped(cov: ModuleType) -> None:
    assert cov.one_line_change(PATCH.replace("pkg/store.py", "tests/test_store.py")) is None
    two = PATCH.replace("+        return info.kind", "+        x = 1\n+        return info.kind")
    assert cov.one_line_change(two) is None
    added = PATCH.replace("-        return info.value, info.kind, info.tb\n", "")
    assert cov.one_line_change(added) == (
        "pkg/store.py",
        6,
        None,
        "        return info.kind, info.value, info.tb",
    )


@pytest.mark.parametrize(
    ("removed", "added", "kind"),
    [
        ("    t -= x", "    t += x", "augassign-swap"),
        ("    x = a[i]", "    x = a[i + 1]", "off-by-one"),
        ("    if a and b:", "    if a:", "condition"),
        ("    self.fs.mkdir(d)", "    self.mkdir(d)", "receiver"),
        ("    return x.y", "    return x.z", "wrong-attribute"),
        ("    f(a, b, c)", "    f(a, c)", "argument-added-or-removed"),
        ("    s = 'a'", "    s = 'b'", "string-literal"),
    ],
)
def test_bug_classes(cov: ModuleType, removed: str, added: str, kind: str) -> None:
    assert cov.classify(removed, added) == kind
