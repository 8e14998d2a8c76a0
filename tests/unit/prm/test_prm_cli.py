"""``codeprm prm`` end to end on CPU with the tiny model: data -> train -> eval -> score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeprm.cli.main import run

pytest.importorskip("torch")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    """Run ``codeprm prm ARGS --json``; assert it succeeds and return its JSON."""
    assert run(["prm", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_data_train_eval_score(
    tmp_path: Path, stdlib: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, trl, ckpt = tmp_path / "steps.jsonl", tmp_path / "trl.jsonl", tmp_path / "ckpt"
    summary = cli(capsys, "data", "--corpus", str(stdlib), "--max-files", "12", "--max-bugs", "25",
                  "--out", str(data), "--trl", str(trl))  # fmt: skip
    assert summary["records"] > 0 and trl.is_file()
    trained = cli(capsys, "train", "--data", str(data), "--out", str(ckpt), "--steps", "4",
                  "--max-length", "128", "--train-length", "64", "--device", "cpu")  # fmt: skip
    assert trained["kind"] == "classifier" and len(trained["weights_sha256"]) == 64
    meta = json.loads((ckpt / "codeprm_prm.json").read_text())
    assert meta["max_length"] == 128 and meta["training"]["train_length"] == 64
    evaluated = cli(capsys, "eval", "--model", str(ckpt), "--data", str(data), "--split", "all",
                    "--device", "cpu")  # fmt: skip
    metrics = evaluated["metrics"]
    assert 0.0 <= metrics["auroc"] <= 1.0 and "ece" in metrics and "top1" in metrics
    # every split: the train files are among them, and the evaluation says so
    assert evaluated["trainedOn"]["files"] > 0 and evaluated["trainedOn"]["steps"] > 0
    held = cli(capsys, "eval", "--model", str(ckpt), "--data", str(data), "--device", "cpu")
    assert held["trainedOn"] == {"files": 0, "steps": 0}  # the test split is held out
    before, after = tmp_path / "a.py", tmp_path / "b.py"
    before.write_text("def f(x):\n    return\n")
    after.write_text("def f(x):\n    return x\n")
    assert (
        run(["prm", "score", "--model", str(ckpt), "--before", str(before), "--after", str(after)])
        == 0
    )
    assert 0.0 < float(capsys.readouterr().out.strip()) < 1.0
    scores = cli(capsys, "score", "--model", str(ckpt), "--steps", str(data), "--batch-size", "16")[
        "scores"
    ]
    assert len(scores) == summary["records"]


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["prm", "score", "--model", str(tmp_path)]) == 2
    assert "--steps" in capsys.readouterr().err
    assert (
        run(["prm", "eval", "--model", str(tmp_path), "--data", str(tmp_path / "nope.jsonl")]) == 2
    )


def test_trajectories_are_labelled_by_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trajectories = tmp_path / "t.jsonl"
    trajectories.write_text(
        json.dumps(
            {
                "id": "ok",
                "outcome": 1.0,
                "steps": [{"before": "a\n", "after": "b\n"}, {"before": "b\n", "after": "c\n"}],
            }
        )
        + "\n"
        + json.dumps({"id": "bad", "outcome": 0.0, "steps": [{"before": "a\n", "after": "x\n"}]})
        + "\n"
    )
    out = tmp_path / "steps.jsonl"
    assert (
        run(
            [
                "prm",
                "data",
                "--trajectories",
                str(trajectories),
                "--gamma",
                "0.5",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["bug_id"], r["value"], r["label"]) for r in rows] == [
        ("ok-0", 0.5, True),
        ("ok-1", 1.0, True),
        ("bad-0", 0.0, False),
    ]
    assert {r["label_source"] for r in rows} == {"outcome"}


def test_fetch_refuses_a_gguf_with_the_wrong_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF not really")
    assert run(["prm", "fetch", "--gguf", str(fake), "--dest", str(tmp_path / "ckpt")]) == 2
    assert "sha256" in capsys.readouterr().err
    assert not (tmp_path / "ckpt").exists()
