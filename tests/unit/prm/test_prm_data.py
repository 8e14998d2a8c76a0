"""Mined repair steps: labels, splits, determinism, TRL round trip, outcome propagation."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from codeprm.prm.data import (
    MiningConfig,
    mean_state_values,
    mine_corpus,
    outcome_records,
    outcome_values,
    split_of,
)
from codeprm.prm.mutate import equivalent, parses
from codeprm.prm.records import (
    StepInput,
    StepRecord,
    export_trl,
    import_trl,
    read_records,
    read_step_inputs,
    write_records,
)


def test_each_bug_has_one_correct_repair_that_restores_the_original(mined) -> None:
    groups: dict[str, list[StepRecord]] = defaultdict(list)
    for r in mined:
        groups[r.bug_id].append(r)
    assert len(groups) > 50
    for bug, steps in groups.items():
        correct = [s for s in steps if s.candidate == "correct"]
        assert len(correct) == 1, bug
        original = correct[0].after
        assert correct[0].label and correct[0].label_source == "equivalence"
        assert len({s.before for s in steps}) == 1
        assert parses(steps[0].before) and parses(original)
        assert steps[0].before != original
        for s in steps:
            assert s.label == equivalent(s.after, original)
            assert s.diff.startswith("--- a/")
        assert any(not s.label for s in steps)


def test_kinds_of_bugs_and_wrong_repairs_are_varied(mined) -> None:
    assert len({r.mutation for r in mined}) >= 7
    assert {r.candidate for r in mined} >= {"correct", "near-miss", "other-mutation", "broken-name"}


def test_no_source_file_in_two_splits(mined) -> None:
    split_of_file: dict[str, set[str]] = defaultdict(set)
    for r in mined:
        split_of_file[r.source_path].add(r.split)
    assert all(len(s) == 1 for s in split_of_file.values())
    config = MiningConfig()
    assert all(split_of(path, config) == next(iter(s)) for path, s in split_of_file.items())


def test_mining_is_deterministic_given_the_seed(stdlib) -> None:
    a = mine_corpus([stdlib], MiningConfig(seed=3), max_files=6)
    b = mine_corpus([stdlib], MiningConfig(seed=3), max_files=6)
    c = mine_corpus([stdlib], MiningConfig(seed=4), max_files=6)
    assert a == b and a
    assert [r.id for r in a] != [r.id for r in c]


def test_held_out_markers_and_forced_split(tmp_path: Path) -> None:
    (tmp_path / "humaneval").mkdir()
    code = "def f(a, b):\n    if a < b:\n        return a + b\n    return a - b\n"
    (tmp_path / "humaneval" / "h.py").write_text(code)
    (tmp_path / "m.py").write_text(code)
    records = mine_corpus([tmp_path], MiningConfig(force_split="test"))
    assert records and {r.source_path for r in records} == {f"{tmp_path.name}/m.py"}
    assert {r.split for r in records} == {"test"}


def test_jsonl_and_trl_round_trip(mined, tmp_path: Path) -> None:
    sample = mined[:30]
    write_records(tmp_path / "steps.jsonl", sample)
    assert read_records(tmp_path / "steps.jsonl") == sample
    export_trl(tmp_path / "trl.jsonl", sample)
    assert import_trl(tmp_path / "trl.jsonl") == sample
    assert read_records(tmp_path / "trl.jsonl") == sample
    assert len(read_step_inputs(tmp_path / "steps.jsonl")) == 30


def test_foreign_trl_rows_import_as_trajectories(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text(
        '{"prompt": "fix it", "completions": ["a = 1", "b = 2"], "labels": [true, false]}\n'
    )
    steps = import_trl(tmp_path / "t.jsonl")
    assert [s.label for s in steps] == [True, False]
    assert steps[1].before == "a = 1\n" and steps[1].after == "a = 1\nb = 2\n"


def test_outcome_propagation() -> None:
    assert outcome_values(3, 1.0, gamma=0.5) == [0.25, 0.5, 1.0]
    assert outcome_values(2, 0.0) == [0.0, 0.0]
    steps = [StepInput("a\n", "b\n"), StepInput("b\n", "c\n"), StepInput("c\n", "d\n")]
    recs = outcome_records(steps, 1.0, gamma=0.7)
    assert [r.label for r in recs] == [False, True, True]  # 0.49, 0.7, 1.0
    assert [r.value for r in recs] == pytest.approx([0.49, 0.7, 1.0])
    assert {r.label_source for r in recs} == {"outcome"}
    failed = outcome_records(steps, 0.0)
    assert not any(r.label for r in failed)
    values = mean_state_values([(steps, 1.0), (steps[:1], 0.0)])
    assert sorted(values.values()) == [0.5, 1.0, 1.0]
