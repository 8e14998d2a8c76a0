"""The learned potential's change over a step: V(after) - V(before), from a loaded PRM.

V(state) = sum over the state's units u (``analysis.units``) of v(u), where v(u) is the
PRM's calibrated log-odds that the unit's code is right, without the calibration's
intercept (a constant per unit would make adding or deleting code earn or lose a fixed
amount, whatever the code):

* a zero-shot or fine-tuned language model: v(u) = w_lp * log p(u | context) + w_n * tokens(u),
  with (w_lp, w_n) the checkpoint's Platt weights. The step scorer already computes
  exactly the difference of this between two texts of a unit (``Scorer.features``);
* a sequence classifier: v(u) = its calibrated logit for writing the unit from nothing.

Units the step left alone cancel and are never scored. Suppression comments are stripped
before scoring (``rewards.guard.strip_suppressions``), so adding one is a no-op here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from codeprm.analysis.units import UnitChange, changed_units
from codeprm.rewards.guard import strip_suppressions


def unit_changes(
    before: Mapping[str, str], after: Mapping[str, str], paths: Sequence[str]
) -> list[UnitChange]:
    return changed_units(before, after, paths, transform=strip_suppressions)


def unit_deltas(scorer: Any, changes: Sequence[UnitChange], task: str = "") -> list[float]:
    """v(after) - v(before) of each changed unit (calibrated log-odds, no intercept)."""
    from codeprm.prm.records import StepInput

    if not changes:
        return []
    weights = scorer.meta.calibration.weights
    if scorer.meta.kind == "classifier":
        steps = []
        for c in changes:
            steps.append(
                StepInput(before="", after=c.after, context=c.context, task=task, path=c.path)
            )
            steps.append(
                StepInput(before="", after=c.before, context=c.context, task=task, path=c.path)
            )
        feats = scorer.features(steps)
        out = []
        for i in range(len(changes)):
            fa, fb = feats[2 * i], feats[2 * i + 1]
            out.append(sum(w * (a - b) for w, a, b in zip(weights, fa, fb, strict=True)))
        return out
    steps = [
        StepInput(before=c.before, after=c.after, context=c.context, task=task, path=c.path)
        for c in changes
    ]
    return [
        sum(w * f for w, f in zip(weights, feats, strict=True)) for feats in scorer.features(steps)
    ]
