"""LLM proposers against a real (scripted) OpenAI-compatible server on 127.0.0.1, both client paths."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fake_llm_server import FakeLLMServer, Step
from lawagent.selection.view import task_info
from lawagent.errors import LawagentError
from lawagent.proposers.base import CandidateRecord, ProposalContext
from lawagent.proposers.llm import HybridProposer, build_llm_proposer
from lawagent.task import load_task

GOOD = "E + A/num_params^alpha  # power law\nE + A/(num_params*parallel_size)^alpha  # streams multiply N\n" \
       "E + A/num_params^alpha + B/parallel_size  # extra stream term"
FAST = dict(timeout=1.0, retries=2, backoff=0.01, breaker=2, concurrency=2, laws_per_call=3)


@pytest.fixture(scope="module")
def info():
    task = load_task("parallel_scaling_law")
    return task_info(task, task.train())


def context(info, n=3, iteration=1, best=()):
    return ProposalContext(info, list(best), [], [], n, iteration, np.random.default_rng(0))


def make(info, server, tmp_path, client, name="llm", seed=0, **kw):
    opts = {**FAST, **kw}
    return build_llm_proposer(name, info, seed=seed, run_dir=tmp_path, model="openai/fake", api_base=server.api_base,
                              client=client, **opts)


def transcript(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "llm_transcript.jsonl").read_text().splitlines()]


CLIENTS = ["openai", "litellm"]


@pytest.mark.parametrize("client", CLIENTS)
def test_good_answers_are_parsed_and_recorded(info, tmp_path, client):
    with FakeLLMServer(default=Step(GOOD)) as server:
        p = make(info, server, tmp_path, client)
        best = [CandidateRecord(1, "E + A/num_params**alpha", "seed", 0, val_r2=0.9, params={"pile": {"A": 3.0, "alpha": 0.3, "E": 1.5}})]
        props = p.propose(context(info, best=best))
        p.close()
    assert [pr.text for pr in props] == ["E + A/num_params**alpha", "E + A/(num_params*parallel_size)**alpha",
                                         "E + A/num_params**alpha + B/parallel_size"]
    assert all(pr.origin == "llm:openai/fake" for pr in props) and props[1].rationale == "streams multiply N"
    body = server.requests[0]["body"]
    assert body["model"] == "fake" and body.get("grammar")  # --api-base server: grammar on (auto)
    prompt = body["messages"][-1]["content"]
    assert "num_params" in prompt and "parameter budget" in prompt.lower() and "R2=0.9000" in prompt and "A=3" in prompt
    st = p.stats()
    assert st["calls"] == 1 and st["parsed"] == 3 and st["rejected"] == 0 and st["prompt_tokens"] > 0
    rec = transcript(tmp_path)
    assert len(rec) == 1 and rec[0]["reply"] == GOOD and len(rec[0]["parsed"]) == 3
    assert json.loads((tmp_path / "llm_stats.json").read_text())["parsed"] == 3


@pytest.mark.parametrize("client", CLIENTS)
def test_junk_hostile_and_over_budget_are_rejected_and_fed_back(info, tmp_path, client):
    marker = tmp_path / "pwned"
    junk = "\n".join(["Sure! Here are some laws:", "```", f"1. __import__('pathlib').Path('{marker}').touch()",
                      "2. L = A*num_params^a + B*parallel_size^b + C + D", "3. $E + A \\cdot num_params^{-alpha}$", "```"])
    with FakeLLMServer(script=[Step(junk)], default=Step(GOOD)) as server:
        p = make(info, server, tmp_path, client)
        first = p.propose(context(info, iteration=1))
        p.propose(context(info, iteration=2))
        p.close()
    assert [pr.text for pr in first] == ["E + A/num_params**alpha"]
    assert not marker.exists()
    st = p.stats()
    assert st["rejected"] == 2 and st["parsed"] == 4
    second_prompt = server.requests[1]["body"]["messages"][-1]["content"]
    assert "the budget is 4" in second_prompt and "unexpected character" in second_prompt


@pytest.mark.parametrize("client", CLIENTS)
def test_slow_answer_times_out_then_retry_succeeds(info, tmp_path, client):
    with FakeLLMServer(script=[Step(GOOD, delay=1.5)], default=Step(GOOD)) as server:
        p = make(info, server, tmp_path, client, timeout=0.5)
        start = time.monotonic()
        props = p.propose(context(info))
        p.close()
    assert len(props) == 3 and time.monotonic() - start < 5
    assert p.stats()["retries"] == 1 and server.n_requests == 2


@pytest.mark.parametrize("client", CLIENTS)
def test_429_with_retry_after_then_success(info, tmp_path, client):
    with FakeLLMServer(script=[Step(status=429, headers={"Retry-After": "0.2"})], default=Step(GOOD)) as server:
        p = make(info, server, tmp_path, client, backoff=5.0)  # Retry-After (0.2 s) wins over the 5 s backoff
        start = time.monotonic()
        props = p.propose(context(info))
        p.close()
    assert len(props) == 3 and 0.2 <= time.monotonic() - start < 4
    assert server.n_requests == 2 and p.stats()["retries"] == 1 and p.stats()["failed_calls"] == 0


@pytest.mark.parametrize("client", CLIENTS)
def test_repeated_500s_trip_the_breaker_and_fall_back(info, tmp_path, client, capsys):
    with FakeLLMServer(default=Step(status=500)) as server:
        p = make(info, server, tmp_path, client, retries=1, concurrency=1)
        assert p.propose(context(info, n=3)) == []  # first call fails (2 attempts)
        props = p.propose(context(info, n=3))  # second call fails: breaker (2) trips -> symbolic
        n_after_trip = server.n_requests
        more = p.propose(context(info, n=4))
        p.close()
    assert n_after_trip == 4 and server.n_requests == 4  # no calls once the breaker tripped
    st = p.stats()
    assert st["failed_calls"] == 2 and "consecutive failed calls" in st["stopped"] and "HTTP 500" in st["stopped"]
    assert props and more and all(not pr.origin.startswith("llm") for pr in props + more)
    assert "continuing with the symbolic proposer" in capsys.readouterr().err


def test_a_model_that_never_writes_a_usable_law_is_stopped(info, tmp_path, capsys):
    prose = "Scaling laws describe how loss falls as models grow. I hope this helps!"
    with FakeLLMServer(default=Step(prose)) as server:
        p = make(info, server, tmp_path, "openai", concurrency=1, calls_per_batch=1)  # breaker 2 -> 6 unusable replies
        got = [p.propose(context(info, n=3)) for _ in range(8)]
        p.close()
    assert server.n_requests == 6  # answered every time, never usefully: no calls after the sixth
    assert "no usable law" in p.stats()["stopped"]
    assert all(not pr.origin.startswith("llm") for pr in got[-1]) and got[-1]
    assert "continuing with the symbolic proposer" in capsys.readouterr().err


def test_cache_makes_a_rerun_free_and_identical(info, tmp_path):
    with FakeLLMServer(default=lambda body: Step(GOOD if body["seed"] % 2 else "E + A*exp(-k*num_params)")) as server:
        runs = []
        for _ in range(2):
            p = make(info, server, tmp_path, "openai", seed=7)
            runs.append([pr.text for it in (1, 2) for pr in p.propose(context(info, iteration=it))])
            p.close()
    assert server.n_requests == 2 and runs[0] == runs[1]
    assert p.stats()["cached_calls"] == 2 and p.stats()["calls"] == 0


def test_api_key_is_used_but_never_written(info, tmp_path, monkeypatch):
    secret = "sk-test-DO-NOT-LEAK-12345"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with FakeLLMServer(default=Step(GOOD)) as server:
        p = make(info, server, tmp_path, "openai", show_prompts=True)
        p.propose(context(info))
        p.close()
    assert server.requests[0]["headers"].get("Authorization") == f"Bearer {secret}"
    for f in tmp_path.iterdir():
        assert secret not in f.read_text(), f
    assert secret not in repr(p.endpoint) and secret not in json.dumps(p.stats())


def test_key_from_a_config_file(info, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = tmp_path / "llm.toml"
    cfg.write_text('api_key = "sk-from-file"\n')
    run = tmp_path / "run"
    with FakeLLMServer(default=Step(GOOD)) as server:
        p = make(info, server, run, "openai", llm_config=str(cfg))
        p.propose(context(info))
        p.close()
    assert server.requests[0]["headers"].get("Authorization") == "Bearer sk-from-file"
    assert all("sk-from-file" not in f.read_text() for f in run.iterdir())


def test_token_budget_stops_calls(info, tmp_path):
    with FakeLLMServer(default=Step(GOOD)) as server:
        p = make(info, server, tmp_path, "openai", max_tokens=10)
        assert len(p.propose(context(info))) == 3
        later = p.propose(context(info, n=4))
        p.close()
    assert server.n_requests == 1 and "token budget" in p.stats()["stopped"]
    assert later and all(not pr.origin.startswith("llm") for pr in later)


def test_refused_grammar_is_dropped(info, tmp_path):
    with FakeLLMServer(default=lambda body: Step(status=400) if "grammar" in body else Step(GOOD)) as server:
        p = make(info, server, tmp_path, "openai")
        props = p.propose(context(info))
        p.close()
    assert len(props) == 3 and server.n_requests == 2 and not p.stats()["grammar"]


def test_hybrid_does_not_wait_for_the_llm(info, tmp_path):
    with FakeLLMServer(default=Step(GOOD, delay=0.6)) as server:
        h = make(info, server, tmp_path, "openai", name="hybrid", llm_weight=0.5)
        assert isinstance(h, HybridProposer)
        first = h.propose(context(info, n=6))
        # the reply takes 0.6 s: a batch that waited for it would hold LLM laws; this one is all symbolic
        assert first and all(not pr.origin.startswith("llm") for pr in first)
        end = time.monotonic() + 30  # a busy machine may take more than the reply's 0.6 s
        while any(not f.done() for f in h.llm.pending) and time.monotonic() < end:
            time.sleep(0.05)
        second = h.propose(context(info, n=6, iteration=2))
        h.close()
    assert sum(pr.origin.startswith("llm") for pr in second) == 3 and len(second) >= 3
    assert h.stats()["calls"] >= 1


def test_bad_options_are_clear(info, tmp_path):
    with pytest.raises(LawagentError, match="unknown LLM proposer option"):
        build_llm_proposer("llm", info, model="openai/x", api_base="http://127.0.0.1:9/v1", temprature=1)
    with pytest.raises(LawagentError, match="needs a model"):
        build_llm_proposer("llm", info)
    with pytest.raises(LawagentError, match="concurrency"):
        build_llm_proposer("llm", info, model="openai/x", api_base="http://127.0.0.1:9/v1", concurrency=0)


def test_importing_lawagent_does_not_import_litellm(tmp_path):
    code = """
import sys
import lawagent, lawagent.proposers.llm, lawagent.proposers.registry, lawagent.llm.client
assert 'litellm' not in sys.modules
from lawagent.selection.view import task_info
from lawagent.proposers.llm import build_llm_proposer
t = lawagent.load_task('parallel_scaling_law')
info = task_info(t, t.train())
p = build_llm_proposer('llm', info, model='openai/fake', api_base='http://127.0.0.1:9/v1', client='openai')
assert 'litellm' not in sys.modules
p.propose  # building a proposer on the openai path never needs litellm
print('ok')
"""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("LITELLM")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]

    # the litellm path imports it (offline: local cost map, callbacks off)
    from lawagent.llm.client import import_litellm

    litellm = import_litellm()
    assert __import__("os").environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert litellm.success_callback == [] and litellm.callbacks == [] and not litellm.telemetry


# -- faults of a real network (issue 16) --------------------------------------

@pytest.mark.parametrize("client", CLIENTS)
def test_a_trickling_server_cannot_outlast_the_request_deadline(info, tmp_path, client):
    """One byte every 0.3 s: no single read waits long, so per-read timeouts never fired and the call hung."""
    with FakeLLMServer(script=[Step(GOOD)], default=Step(GOOD, trickle=0.3)) as server:
        # a first, prompt reply: the client's first request imports and builds much (seconds on a loaded
        # machine), which must not use up the 1.5 s before the trickled request is even sent
        warm = make(info, server, tmp_path / "warm", client, timeout=60, retries=0)
        assert len(warm.propose(context(info))) == 3
        warm.close()
        p = make(info, server, tmp_path, client, timeout=1.5, retries=0, breaker=5)
        start = time.monotonic()
        props = p.propose(context(info))
        elapsed = time.monotonic() - start
        p.close()
    assert props == [] and server.n_requests == 2
    assert elapsed < 15  # the deadline is 1.5 s; the full trickled reply would take minutes
    assert "no complete reply within 1.5 s" in p.stats()["last_error"]
    assert transcript(tmp_path)[0]["error"].startswith("timed out")


@pytest.mark.parametrize("client", CLIENTS)
def test_malformed_json_is_reported_as_such(info, tmp_path, client):
    with FakeLLMServer(default=Step(raw=b'{"choices": [{"message": ')) as server:
        p = make(info, server, tmp_path, client, retries=0, breaker=5)
        assert p.propose(context(info)) == []
        p.close()
    error = p.stats()["last_error"]
    assert error.startswith("malformed JSON from the server") and "HTTP 500" not in error


@pytest.mark.parametrize("client", CLIENTS)
def test_a_huge_reply_is_capped_before_it_is_stored_and_stored_once(info, tmp_path, client):
    """A 5 MB reply was written to llm_cache.jsonl and again to llm_transcript.jsonl."""
    from lawagent.llm.client import MAX_REPLY_CHARS

    huge = GOOD + "\n" + "x" * 5_000_000
    with FakeLLMServer(default=Step(huge)) as server:
        p = make(info, server, tmp_path, client, retries=0, breaker=5)
        props = p.propose(context(info))
        p.close()
    stored = sum(f.stat().st_size for f in tmp_path.iterdir())
    assert stored < 4 * MAX_REPLY_CHARS  # capped (litellm) or refused (openai reads at most 4 MiB)
    assert not (tmp_path / "llm_cache.jsonl").exists()
    records = transcript(tmp_path)
    if client == "litellm":  # litellm reads the whole body: the text is cut, and its laws are still used
        assert len(props) == 3 and len(records[0]["reply"]) == MAX_REPLY_CHARS
        assert "cut to 64000" in records[0]["finish_reason"]
    else:  # the openai path stops reading at 4 MiB: a failed call, said plainly
        assert props == [] and "larger than 4 MiB" in records[0]["error"]


def test_the_run_cache_reads_replies_back_from_the_transcript(info, tmp_path):
    with FakeLLMServer(default=Step(GOOD)) as server:
        first = make(info, server, tmp_path, "openai", seed=5)
        got = [pr.text for pr in first.propose(context(info))]
        first.close()
        again = make(info, server, tmp_path, "openai", seed=5)
        assert [pr.text for pr in again.propose(context(info))] == got
        again.close()
    assert server.n_requests == 1 and again.stats()["cached_calls"] == 1
    lines = transcript(tmp_path)
    assert lines[0]["reply"] == GOOD and lines[0]["key"] == lines[1]["key"]
    assert lines[1]["cached"] and lines[1]["reply"] is None  # the text is stored once
    assert (tmp_path / "llm_transcript.jsonl").read_text().count(json.dumps(GOOD)) == 1


def test_a_reply_the_parser_chokes_on_does_not_abort_the_run(info, tmp_path):
    """pow(1/3, 10^6) parsed, then printing it raised outside the proposer's try: the run ended (rc 2)."""
    reply = "E + A*pow(1/3, 10^6)*num_params\n" + GOOD
    with FakeLLMServer(default=Step(reply)) as server:
        p = make(info, server, tmp_path, "openai")
        props = p.propose(context(info))
        p.close()
    assert len(props) == 3
    assert any("underflows" in r["error"] for r in transcript(tmp_path)[0]["rejected"])


def test_hybrid_says_at_once_when_its_llm_fails(info, tmp_path, capsys):
    with FakeLLMServer(default=Step(status=500)) as server:
        h = make(info, server, tmp_path, "openai", name="hybrid", retries=0, breaker=5, llm_weight=0.5)
        h.propose(context(info, n=4))
        for _ in range(100):  # the call runs in the background
            if h.llm.stats()["failed_calls"]:
                break
            time.sleep(0.05)
        h.close()
    err = capsys.readouterr().err
    assert "an LLM call to openai/fake failed after 1 attempt(s): HTTP 500" in err
    assert "the run goes on" in err


def test_close_cancels_a_call_in_flight(info, tmp_path):
    with FakeLLMServer(default=Step(GOOD, trickle=1.0)) as server:
        h = make(info, server, tmp_path, "openai", name="hybrid", timeout=300, retries=0)
        h.propose(context(info, n=4))  # starts a call that would take minutes
        while server.n_requests == 0:
            time.sleep(0.02)
        start = time.monotonic()
        h.close()
        closing = time.monotonic() - start
        workers = [t for t in h.llm.executor.threads if t.is_alive()]
    assert closing < 10 and workers == []


HYBRID_RUN = """
import sys
from lawagent.discovery import discover
discover("parallel_scaling_law", proposer="hybrid", time_limit=15, out_dir=sys.argv[2], run_id="r", progress=False,
         proposer_options=dict(model="openai/fake", api_base=sys.argv[1], client="openai"))
print("discover returned", flush=True)
"""


def test_hybrid_run_exits_while_a_request_is_still_trickling(tmp_path):
    """The executor's non-daemon workers were joined at exit: a finished run never exited."""
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    with FakeLLMServer(default=Step(GOOD, trickle=1.0)) as server:
        try:
            done = subprocess.run([sys.executable, "-c", HYBRID_RUN, server.api_base, str(tmp_path)], env=env,
                                  capture_output=True, text=True, timeout=150)
        except subprocess.TimeoutExpired:
            pytest.fail("the hybrid run did not exit")
        # a request was in flight (the reply takes minutes to trickle in); 15 s leaves room for a loaded
        # machine to import the LLM client and start the workers (8 s did not, with the compiled fitter's load)
        assert server.n_requests >= 1
    assert done.returncode == 0, done.stderr[-2000:]
    assert "discover returned" in done.stdout and (tmp_path / "r" / "final.json").exists()
