"""TRL's own GRPOTrainer calls codeprm's reward function: one training step of a tiny
random model on CPU, its rewards scored by a real reward server (the real language server
over a real temporary git repository). Nothing is downloaded: the model is built from a
config and the tokenizer is trained here on a few strings."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeprm.integrations.client import RewardClient
from codeprm.integrations.server import RewardHTTPServer
from codeprm.integrations.service import RewardService, StepBench
from codeprm.integrations.trl import reward_function
from codeprm.workspace.cache import WorkspaceCache
from tests.conftest import git
from tests.e2e.test_reward_server import BREAK, BUGGY, FIX

trl = pytest.importorskip("trl")  # a test extra: CI installs it, so this never skips there

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    # TRL 1.16 sets transformers 5's deprecated gradient_checkpointing names
    pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    repo = tmp_path_factory.mktemp("upstream")
    git(repo, "init", "-q")
    (repo / "shop.py").write_text(BUGGY)
    (repo / "pyrightconfig.json").write_text('{"typeCheckingMode": "standard"}\n')
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "buggy")
    commit = git(repo, "rev-parse", "HEAD").strip()
    service = RewardService(
        WorkspaceCache(tmp_path_factory.mktemp("cache"), allow=[str(repo)]),
        lambda root: StepBench(root),
        sample_timeout=60.0,
        workers=2,
        max_benches=2,
    )
    srv = RewardHTTPServer(service, port=0)
    srv.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", repo, commit
    finally:
        srv.shutdown()
        srv.server_close()
        service.close()


def _tiny_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        ["Fix the type error in shop.py.\n", "Make shop.py wrong.\n"],
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )


def _metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as resp:
        text = resp.read().decode()
    return {
        m["name"]: float(m["value"])
        for m in re.finditer(
            r"^(?P<name>codeprm_samples_total\{[^}]*\}) (?P<value>\S+)$", text, re.M
        )
    }


def test_a_grpo_step_logs_the_rewards_our_server_gives(
    served: tuple[str, Path, str], tmp_path: Path
) -> None:
    import torch
    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM

    url, repo, commit = served
    workspace = {"repo": str(repo), "commit": commit}
    # the rewards the server gives these samples, asked directly (deterministic: the same
    # edit at the same commit gives the same bundle)
    client = RewardClient(url)
    fix, broken = (
        client.score([{"workspace": workspace, "edit": edit}])[0] for edit in (FIX, BREAK)
    )
    assert fix["status"] == broken["status"] == "ok"
    assert fix["reward"] > 0 > broken["reward"]

    tokenizer = _tiny_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=128,
            bos_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    # one column per sample's contract, as JSON text (Arrow keeps a None as a null): an
    # edit the sample carries; none, so the edit is taken from the random completion and
    # there is none there (no-edit, reward 0.0); no contract at all (None: no reward)
    contracts = [
        json.dumps({"workspace": workspace, "edit": FIX, "task": "fix the type error"}),
        json.dumps({"workspace": workspace, "edit": BREAK}),
        json.dumps({"workspace": workspace}),
        None,
    ]
    dataset = Dataset.from_dict(
        {
            "prompt": ["Fix shop.py.", "Make shop.py wrong.", "Fix the type error.", "Nothing."],
            "codeprm": contracts,
        }
    )
    args = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=8,  # completions: 4 prompts x 2 generations
        num_generations=2,
        max_completion_length=8,
        max_steps=1,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
        seed=0,
    )
    before = _metrics(url)
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=[reward_function(url=url)],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()

    (logged,) = [h for h in trainer.state.log_history if "rewards/codeprm_reward/mean" in h]
    # TRL averages over the completions that got a reward (None is left out): two of each
    # scored sample, two no-edit samples at 0.0
    expected = (2 * fix["reward"] + 2 * broken["reward"] + 2 * 0.0) / 6
    assert logged["rewards/codeprm_reward/mean"] == pytest.approx(expected, abs=1e-6)
    # the server scored exactly those six completions in the step
    after = _metrics(url)
    delta = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
    assert delta == {
        'codeprm_samples_total{status="ok"}': 4.0,
        'codeprm_samples_total{status="no-edit"}': 2.0,
    }
