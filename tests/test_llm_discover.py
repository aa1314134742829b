"""End to end: `discover` with the LLM proposer against a scripted local server (no internet)."""

from __future__ import annotations

import json

import pytest

from fake_llm_server import FakeLLMServer, Step

from lawagent.discovery.api import discover

REPLY = ("E + A/num_params^alpha  # power law in size\n"
         "E + A/(num_params*parallel_size)^alpha  # streams multiply the size\n"
         "E + A/num_params^alpha + B/parallel_size  # separate stream term\n"
         "E + A/num_params^(")  # cut off


@pytest.mark.parametrize("client", ["openai", "litellm"])
def test_discover_with_llm_proposer(tmp_path, client):
    with FakeLLMServer(default=Step(REPLY)) as server:
        result = discover("parallel_scaling_law", proposer="llm", iterations=2, batch_size=4, time_limit=60,
                          out_dir=tmp_path, run_id="run", progress=False, seed=3,
                          proposer_options=dict(model="openai/fake", api_base=server.api_base, client=client,
                                                timeout=5.0, max_tokens=100_000))
    run = tmp_path / "run"
    assert server.n_requests >= 1
    records = [json.loads(line) for line in (run / "candidates.jsonl").read_text().splitlines()]
    llm = [r for r in records if r["origin"].startswith("llm")]
    assert {r["formula"] for r in llm} == {"E + A/num_params**alpha", "E + A/(num_params*parallel_size)**alpha",
                                           "E + A/num_params**alpha + B/parallel_size"}
    assert all(r["val_r2"] > 0.5 for r in llm if not r["error"])  # fitted and scored on validation rows
    assert result.best is not None and result.best.origin.startswith("llm")  # ranked: the best law came from the LLM
    transcript = [json.loads(line) for line in (run / "llm_transcript.jsonl").read_text().splitlines()]
    assert transcript and transcript[0]["rejected"] and transcript[0]["parsed"]
    stats = json.loads((run / "final.json").read_text())["proposer_stats"]
    assert stats["calls"] == server.n_requests and stats["prompt_tokens"] > 0 and stats["completion_tokens"] > 0
    assert stats["parsed"] >= 3 and stats["rejected"] >= 1
