"""LLM proposers: a language model reads the task, the data and the population and writes laws.

``LLMProposer`` asks a chat model (through litellm or the openai client, see
:mod:`lawagent.llm.client`) for a few laws per call, parses them with the
whitelist parser, and feeds rejected answers back into the next prompt.
``HybridProposer`` mixes it with the offline symbolic proposer without waiting
on the network: LLM calls run in background threads and their laws join
whichever batch is being built when they arrive.

Real-world behaviour lives here: a total deadline per request (connect, first
byte and whole body; see :func:`lawagent.llm.client.complete_within`), retries with backoff on
429/5xx (honouring Retry-After), a concurrency limit, a circuit breaker that
stops calling a failing provider (the run continues with the symbolic proposer
and says so), token/cost budgets, a response cache in the run folder (a rerun
with the same seed makes no new calls) and a full transcript
(``llm_transcript.jsonl``). API keys are never written anywhere.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections import deque
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable

from lawagent.errors import LawagentError
from lawagent.jsonio import write_json
from lawagent.llm import answers, prompts
from lawagent.llm.accounting import Budget, Usage
from lawagent.llm.cache import TRANSCRIPT_FILE, ResponseCache, cache_key
from lawagent.llm.client import (ChatClient, LLMCallError, Reply, capped, complete_within, load_config, make_client,
                                  resolve_endpoint)
from lawagent.llm.grammar import bounded_shape, law_grammar
from lawagent.llm.pool import DaemonPool
from lawagent.proposers.base import Proposal, ProposalContext, Proposer, TaskInfo

TRANSCRIPT = TRANSCRIPT_FILE
STATS = "llm_stats.json"
MAX_PENDING_PROPOSALS = 64  # laws that arrived but were not yet handed to the loop (hybrid)
SEARCH_OVER = "the search's time ran out"


@dataclass
class LLMOptions:
    """Settings of an LLM proposer (CLI flags of ``lawagent discover`` map onto these)."""

    model: str | None = None  # a litellm model string: openai/gpt-4o-mini, anthropic/..., openai/<local name>
    api_base: str | None = None  # an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1
    client: str = "auto"  # litellm | openai | auto (litellm if installed)
    llm_config: str | None = None  # TOML/JSON file with model / api_base / api_key / api_key_env
    temperature: float = 0.8
    laws_per_call: int = 4
    calls_per_batch: int = 4  # at most this many calls per propose() (llm mode)
    reply_tokens: int = 320  # max_tokens of one reply
    timeout: float = 60.0  # seconds per request, in total: connect, first byte and the whole body
    retries: int = 3  # extra attempts on 429/5xx/timeouts
    backoff: float = 1.0  # first retry wait (doubles each time), unless the server sends Retry-After
    max_backoff: float = 30.0
    concurrency: int = 2  # requests in flight at once
    breaker: int = 3  # consecutive failed calls after which the model is no longer called
    grammar: bool | str = "auto"  # GBNF-constrained decoding; auto = on for --api-base servers (off if refused)
    compact: bool | str = "auto"  # short prompt for small models; auto = on for the local model
    max_cost: float | None = None  # USD; stop calling the model when reached
    max_tokens: int | None = None  # prompt + completion tokens; stop calling the model when reached
    show_prompts: bool = False  # also print every prompt to stderr
    cache_dir: str | None = None  # a user cache folder shared between runs (besides the run folder)
    llm_weight: float = 0.25  # hybrid: share of each batch asked of the LLM
    blocking: bool | None = None  # wait for the LLM each batch (default: yes for llm, no for hybrid)
    local_llm: bool = False  # start the bundled SmolLM2 server for this run


def _log(message: str) -> None:
    print(f"lawagent: {message}", file=sys.stderr, flush=True)


class LLMProposer:
    """Laws from a chat model. Blocking ``propose``; non-blocking ``poll`` for hybrid use."""

    def __init__(self, info: TaskInfo, options: LLMOptions, *, seed: int = 0, run_dir: Path | None = None,
                 client: ChatClient | None = None, fallback: Proposer | None = None,
                 log: Callable[[str], None] = _log, on_close: Callable[[], None] | None = None):
        if not options.model:
            raise LawagentError("an LLM proposer needs a model (--model openai/gpt-4o-mini, or --local-llm)")
        _check_options(options)
        self.info = info
        self.options = options
        self.seed = seed
        self.run_dir = Path(run_dir) if run_dir else None
        self.log = log
        self.on_close = on_close
        config = load_config(options.llm_config)
        self.endpoint = resolve_endpoint(config.get("model") or options.model, options.api_base, config)
        self.model = self.endpoint.model
        self.name = f"llm:{self.model}"
        self._client = client
        self._fallback = fallback
        self.grammar_on = options.grammar is True or (options.grammar == "auto" and bool(self.endpoint.api_base))
        self.compact = options.compact is True or (options.compact == "auto" and options.local_llm)
        self.budget = Budget(options.max_cost, options.max_tokens)
        self.usage = Usage()
        self.cache = ResponseCache(self.run_dir, [Path(options.cache_dir).expanduser()] if options.cache_dir else [])
        self.rejections: deque[prompts.Rejection] = deque(maxlen=6)
        self.stopped = ""  # why the model is no longer called ('' while it is)
        self.consecutive_failures = 0
        self.consecutive_unusable = 0
        self.last_error = ""
        self.failures_said: set[str] = set()  # kinds of failed call already reported (one line each)
        self._shape_said = False
        self.n_calls_submitted = 0
        self.lock = threading.Lock()
        self.cancel = threading.Event()  # set by close(): requests in flight and backoff waits end at once
        self.executor = DaemonPool(max(1, options.concurrency))
        self.pending: list[Future] = []
        self.ready: deque[Proposal] = deque()
        self.closed = False
        self._fallback_said = False

    # -- public ------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Is the model still being called (not stopped by the breaker or a budget)?"""
        if not self.stopped:
            reason = self.budget.exhausted(self.usage)
            if reason:
                self._stop(reason)
        return not self.stopped

    def propose(self, context: ProposalContext) -> list[Proposal]:
        """Ask the model for ``context.n`` laws and wait for the answers (falls back when stopped)."""
        if not self.active:
            return self._fallback_propose(context)
        k = max(1, self.options.laws_per_call)
        n_calls = max(1, min(self.options.calls_per_batch, math.ceil(context.n / k)))
        futures = [self._submit(context, k) for _ in range(n_calls)]
        out: list[Proposal] = []
        for future in futures:  # each call ends by the deadline; so does the wait (a client import cannot stop)
            out += _result(future, None if context.deadline is None else context.deadline - time.monotonic())
        if not out and not self.active:
            return self._fallback_propose(context)
        return out[: context.n]

    def poll(self, context: ProposalContext, want: int) -> list[Proposal]:
        """Laws that have arrived (at most ``want``), without waiting; keeps calls in flight."""
        with self.lock:
            done = [f for f in self.pending if f.done()]
            self.pending = [f for f in self.pending if not f.done()]
        for future in done:
            self.ready.extend(_result(future))
        while len(self.ready) > MAX_PENDING_PROPOSALS:
            self.ready.popleft()
        if self.active:
            while len(self.pending) < max(1, self.options.concurrency) and len(self.ready) < want:
                self.pending.append(self._submit(context, max(1, self.options.laws_per_call)))
        return [self.ready.popleft() for _ in range(min(want, len(self.ready)))]

    def stats(self) -> dict[str, Any]:
        out = {"model": self.model, "client": self._client.kind if self._client else self.options.client,
               "api_base": self.endpoint.api_base, "grammar": self.grammar_on, "compact_prompt": self.compact}
        out.update(self.usage.as_dict())
        total = self.usage.parsed + self.usage.rejected
        out["parsed_fraction"] = round(self.usage.parsed / total, 4) if total else None
        out["stopped"] = self.stopped
        out["last_error"] = self.last_error
        return out

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.cancel.set()
        self.executor.shutdown(timeout=2.0)
        self._save_stats()
        if self.on_close:
            self.on_close()

    # -- calling the model -------------------------------------------------
    def client(self) -> ChatClient:
        with self.lock:
            if self._client is None:
                self._client = make_client(self.options.client, self.endpoint)
            return self._client

    def _submit(self, context: ProposalContext, k: int) -> Future:
        """Build the prompt now (from this context), call the model in a worker thread."""
        messages = prompts.build_messages(context, k, list(self.rejections), compact=self.compact)
        self.n_calls_submitted += 1
        call_seed = (self.seed * 1_000_003 + self.n_calls_submitted) % (2**31)
        return self.executor.submit(self._call, messages, k, call_seed, context.iteration, context.deadline)

    def _settings(self, k: int) -> dict[str, Any]:
        return {"temperature": self.options.temperature, "max_tokens": self.options.reply_tokens,
                "stop": self._stop_sequences(k),
                "grammar": law_grammar(self.info.features, len(self.info.targets), k, max_chars=self._grammar_chars(k))
                if self.grammar_on else None}

    def _grammar_chars(self, k: int) -> int | None:
        """Small models (compact mode) get a grammar whose longest answer fits max_tokens (a token is >= 1 character)."""
        if not self.compact:
            return None
        budget = self.options.reply_tokens
        if not self._shape_said:
            self._shape_said = True
            shape = bounded_shape(self.info.features, len(self.info.targets), k, budget)
            if not shape.fits:
                self.log(f"warning: reply_tokens={budget} is too few for a complete law over these feature names "
                         f"(the shortest grammar shape needs {shape.length}); replies may be cut off")
        return budget

    def _stop_sequences(self, k: int) -> list[str] | None:
        """Small models ramble after the answer: stop at the end of the line (or the blank line after k lines)."""
        if not self.compact:
            return None
        return ["\n"] if k == 1 else ["\n\n"]

    def _call(self, messages: list[dict], k: int, seed: int, iteration: int,
              deadline: float | None = None) -> list[Proposal]:
        """One call (or its cached reply); ``deadline`` (time.monotonic()) is when the search ends."""
        if self.closed or not self.active:
            return []
        if self.options.show_prompts:
            print(f"=== LLM prompt ({self.model}, iteration {iteration}) ===\n{prompts.render(messages)}", file=sys.stderr, flush=True)
        settings = self._settings(k)
        key = cache_key(self.model, messages, settings, seed)
        started = time.monotonic()
        record: dict[str, Any] = {"time": time.time(), "iteration": iteration, "model": self.model, "seed": seed,
                                  "settings": {**settings, "grammar": bool(settings["grammar"])}, "messages": messages}
        cached = self.cache.get(key)
        if cached is not None:
            reply = capped(Reply(**cached))
            self.usage.add(cached_calls=1)
            record.update(cached=True, key=key)
        else:
            reply, attempts, error = self._request(messages, settings, seed, deadline)
            record.update(cached=False, attempts=attempts)
            if reply is None and attempts == 0 and error == SEARCH_OVER:
                return []  # never sent: nothing to record
            if reply is None:
                record.update(error=error, seconds=round(time.monotonic() - started, 3))
                self._transcribe(record)
                return []
            # a refused grammar changed the settings: cache under the settings actually used
            key = cache_key(self.model, messages, self._settings(k), seed)
            record["key"] = key
            self.cache.put(key, asdict(reply))
            self.usage.add(calls=1, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
                           cost=reply.cost or 0.0, cost_unknown_calls=int(reply.cost is None))
        try:
            proposals, bad = self._read_reply(reply.text)
        except Exception as err:  # a reply must never abort the run, whatever the parser or printer does with it
            proposals, bad = [], [answers.Candidate(raw="", formula="(the whole reply)",
                                                    error=f"could not be read ({type(err).__name__}: {err})"[:300])]
        self.usage.add(parsed=len(proposals), rejected=len(bad))
        self._count_usable(bool(proposals))
        for c in bad:
            self.rejections.append(prompts.Rejection(c.formula, c.error))
        # the reply text is stored once: in this transcript line (the run's cache reads it back from here)
        record.update(reply=None if cached is not None else reply.text, finish_reason=reply.finish_reason,
                      prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens, cost=reply.cost,
                      parsed=[{"formula": p.text, "rationale": p.rationale} for p in proposals],
                      rejected=[{"text": c.formula, "error": c.error} for c in bad],
                      seconds=round(time.monotonic() - started, 3))
        self._transcribe(record)
        return proposals

    def _read_reply(self, text: str) -> tuple[list[Proposal], list[answers.Candidate]]:
        """Laws in a reply (as proposals) and the attempts that were rejected."""
        candidates = answers.extract(text, self.info.features, self.info.targets, self.info.parameter_budget)
        proposals, bad = [], [c for c in candidates if not c.ok]
        for c in candidates:
            if c.ok and c.law is not None:
                try:
                    formulas = tuple(c.law.texts())
                except (ValueError, TypeError, RecursionError) as err:
                    c.law, c.error = None, f"could not be printed ({type(err).__name__})"
                    bad.append(c)
                    continue
                proposals.append(Proposal(formulas=formulas, origin=self.name, rationale=c.rationale))
        return proposals, bad

    def _request(self, messages: list[dict], settings: dict[str, Any], seed: int,
                 deadline: float | None = None) -> tuple[Reply | None, int, str]:
        """One call with retries; updates the circuit breaker. Returns (reply, attempts, error).

        No attempt and no backoff wait runs past ``deadline`` (the end of the search): an
        answer after it would be wasted, and a blocking ``propose`` would hold the run up.
        Running out of search time is not the provider's fault: it does not trip the breaker.
        """
        client = self.client()
        attempts = 0
        error = ""
        while attempts <= self.options.retries:
            if self.closed or self.stopped:
                return None, attempts, error or self.stopped
            timeout = self.options.timeout if deadline is None else min(self.options.timeout, deadline - time.monotonic())
            if timeout <= 0:
                return None, attempts, error or SEARCH_OVER
            attempts += 1
            try:
                reply = complete_within(client, messages, timeout=timeout, cancel=self.cancel,
                                        max_tokens=settings["max_tokens"], temperature=settings["temperature"],
                                        stop=settings["stop"], seed=seed, grammar=settings["grammar"])
            except LLMCallError as err:
                error = str(err)
                if self.cancel.is_set():
                    return None, attempts, error
                if deadline is not None and time.monotonic() >= deadline - 0.01:
                    return None, attempts, f"{SEARCH_OVER} ({error})"
                if settings["grammar"] and err.status in (400, 422) and self.options.grammar == "auto":
                    self.log(f"the server refused the grammar ({error}); continuing without it")
                    self.grammar_on = False
                    settings = {**settings, "grammar": None}
                    attempts -= 1
                    continue
                if not err.retryable or attempts > self.options.retries:
                    break
                wait = err.retry_after if err.retry_after is not None else self.options.backoff * 2 ** (attempts - 1)
                wait = min(wait, self.options.max_backoff)
                if deadline is not None and time.monotonic() + wait >= deadline:
                    return None, attempts, f"{SEARCH_OVER} ({error})"
                self.usage.add(retries=1)
                if self.cancel.wait(wait):
                    return None, attempts, error
                continue
            with self.lock:
                self.consecutive_failures = 0
            return reply, attempts, ""
        self.usage.add(failed_calls=1)
        with self.lock:
            self.consecutive_failures += 1
            self.last_error = error
            failures = self.consecutive_failures
            first_of_its_kind = error.split(":")[0] not in self.failures_said
            self.failures_said.add(error.split(":")[0])
        if failures >= self.options.breaker:
            self._stop(f"{failures} consecutive failed calls (last: {error})")
        elif first_of_its_kind:  # say so at once, not only when the breaker trips (the run may end first)
            self.log(f"an LLM call to {self.model} failed after {attempts} attempt(s): {error}; "
                     "the run goes on (other proposals fill the batch)")
        return None, attempts, error

    def _count_usable(self, usable: bool) -> None:
        """A model that answers but never writes a usable law is as stuck as one that errors:
        after ``3 x breaker`` such replies in a row, stop calling it (the run falls back)."""
        with self.lock:
            self.consecutive_unusable = 0 if usable else self.consecutive_unusable + 1
            n = self.consecutive_unusable
        if n >= 3 * self.options.breaker:
            self._stop(f"{n} replies in a row contained no usable law")

    def _stop(self, reason: str) -> None:
        with self.lock:
            if self.stopped:
                return
            self.stopped = reason
        self.log(f"LLM calls to {self.model} stopped: {reason}; continuing with the symbolic proposer")

    def _fallback_propose(self, context: ProposalContext) -> list[Proposal]:
        if self._fallback is None:
            from lawagent.proposers.symbolic import SymbolicProposer

            self._fallback = SymbolicProposer(self.info, seed=self.seed)
        if not self._fallback_said:
            self._fallback_said = True
            self.log(f"warning: proposer {self.name} fell back to the symbolic proposer ({self.stopped})")
        return self._fallback.propose(context)

    # -- records -------------------------------------------------------------
    def _transcribe(self, record: dict[str, Any]) -> None:
        if self.run_dir is None or self.closed:
            return
        line = json.dumps(record, default=str) + "\n"
        with self.lock:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            with open(self.run_dir / TRANSCRIPT, "a", encoding="utf-8") as fh:
                fh.write(line)
        self._save_stats()

    def _save_stats(self) -> None:
        if self.run_dir is not None and self.run_dir.exists():
            with self.lock:
                write_json(self.run_dir / STATS, self.stats())


def _result(future: Future, timeout: float | None = None) -> list[Proposal]:
    """A call's proposals; a call cancelled by close(), or not done within ``timeout`` seconds, has none."""
    try:
        return future.result(timeout=None if timeout is None else max(0.0, timeout) + 0.1)
    except (CancelledError, FuturesTimeout):
        return []


class HybridProposer:
    """Symbolic proposals every batch, plus whatever the LLM has produced meanwhile (``llm_weight`` share)."""

    def __init__(self, symbolic: Proposer, llm: LLMProposer, weight: float, blocking: bool = False,
                 log: Callable[[str], None] = _log):
        if not 0 < weight <= 1:
            raise LawagentError(f"llm_weight must be in (0, 1], got {weight}")
        self.symbolic = symbolic
        self.llm = llm
        self.weight = weight
        self.blocking = blocking
        self.log = log
        self.name = f"hybrid({symbolic.name}+{llm.name})"

    def propose(self, context: ProposalContext) -> list[Proposal]:
        share = max(1, round(context.n * self.weight)) if context.n > 1 else 1
        if self.blocking and self.llm.active:
            got = self.llm.propose(replace(context, n=share))
        else:
            got = self.llm.poll(context, share)
        rest = context.n - len(got)
        return got + (self.symbolic.propose(replace(context, n=rest)) if rest > 0 else [])

    def stats(self) -> dict[str, Any]:
        return {"llm_weight": self.weight, **self.llm.stats()}

    def close(self) -> None:
        self.llm.close()


def _check_options(options: LLMOptions) -> None:
    checks = [("laws_per_call", 1, 50), ("calls_per_batch", 1, 1000), ("reply_tokens", 16, 100_000), ("concurrency", 1, 64), ("breaker", 1, 1000),
              ("retries", 0, 20)]
    for name, lo, hi in checks:
        value = getattr(options, name)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise LawagentError(f"LLM option {name} must be an integer in [{lo}, {hi}], got {value!r}")
    for name in ("timeout", "backoff", "max_backoff", "temperature"):
        value = getattr(options, name)
        if not isinstance(value, (int, float)) or value < 0 or (name == "timeout" and value == 0):
            raise LawagentError(f"LLM option {name} must be a positive number, got {value!r}")
    if options.max_cost is not None and options.max_cost < 0:
        raise LawagentError(f"--max-cost must be >= 0, got {options.max_cost}")
    if options.max_tokens is not None and options.max_tokens < 0:
        raise LawagentError(f"--max-tokens must be >= 0, got {options.max_tokens}")
    if options.grammar not in (True, False, "auto"):
        raise LawagentError(f"grammar must be true, false or auto, got {options.grammar!r}")


def build_llm_proposer(name: str, info: TaskInfo, *, seed: int = 0, run_dir: Path | None = None,
                       **options: Any) -> LLMProposer | HybridProposer:
    """``llm`` (LLM only; symbolic fallback when the model stops answering) or ``hybrid``.

    ``local_llm=True`` starts the bundled SmolLM2 server for this run (stopped by ``close()``).
    """
    known = {f.name for f in fields(LLMOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise LawagentError(f"unknown LLM proposer option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = LLMOptions(**{k: v for k, v in options.items() if v is not None})
    if name not in ("llm", "hybrid"):
        raise LawagentError(f"unknown LLM proposer {name!r}; choose llm or hybrid")
    on_close = None
    if opts.local_llm:
        from lawagent.llm.local_server import MODEL_STRING, LocalServer

        if opts.api_base:
            raise LawagentError("give either --local-llm or --api-base, not both")
        log_path = Path(run_dir) / "local_llm_server.log" if run_dir else None
        server = LocalServer(log_path=log_path).start()
        _log(f"started the local model (SmolLM2-135M) at {server.api_base}")
        opts = replace(opts, api_base=server.api_base, model=opts.model or MODEL_STRING,
                       client="openai" if opts.client == "auto" else opts.client,
                       # a 135M model writes one usable law per short reply at best (see docs/llm.md); the
                       # grammar is bounded to reply_tokens characters, and 128 admit 'E + A*x^(-a)' shapes
                       laws_per_call=options.get("laws_per_call") or 1, reply_tokens=options.get("reply_tokens") or 128,
                       concurrency=options.get("concurrency") or 1, timeout=options.get("timeout") or 120.0)
        on_close = server.stop
    try:
        llm = LLMProposer(info, opts, seed=seed, run_dir=run_dir, on_close=on_close)
    except BaseException:
        if on_close:
            on_close()
        raise
    if name == "llm":
        return llm
    from lawagent.proposers.symbolic import SymbolicProposer

    return HybridProposer(SymbolicProposer(info, seed=seed), llm, opts.llm_weight, blocking=bool(opts.blocking))
