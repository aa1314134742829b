"""Two ways to reach a chat model behind one small interface.

* ``litellm``: any provider litellm knows (``openai/...``, ``anthropic/...``,
  ``gemini/...``, ``ollama/...``, ``openrouter/...``), keys from the provider's
  usual environment variable, price from litellm's *local* cost map.
* ``openai``: the openai package against any OpenAI-compatible server
  (vLLM, llama.cpp, Ollama's /v1, LM Studio) or OpenAI itself.

Both make exactly one HTTP request per :meth:`ChatClient.complete` call (their own
retries are switched off): retries, backoff and the circuit breaker live in
:mod:`lawagent.proposers.llm`, so they behave the same on both paths.
"""

from __future__ import annotations

import email.utils
import json
import os
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lawagent.errors import LawagentError

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}
MAX_REPLY_BYTES = 4 * 2**20  # a response body larger than this is refused (a law takes a few hundred bytes)
MAX_REPLY_CHARS = 64_000  # reply text kept, parsed and stored at most (a reply to 'write 4 laws' is ~1 KB)


@dataclass
class Reply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None  # USD; None when the price of the model is unknown
    finish_reason: str = ""


class LLMCallError(Exception):
    """One failed request: HTTP status (0 = no response), whether a retry may help, Retry-After seconds."""

    def __init__(self, message: str, status: int = 0, retryable: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class ChatClient(Protocol):
    kind: str
    model: str

    def complete(self, messages: list[dict], *, max_tokens: int, temperature: float, stop: list[str] | None,
                 seed: int | None, grammar: str | None, timeout: float) -> Reply: ...


def complete_within(client: ChatClient, messages: list[dict], *, timeout: float, cancel: threading.Event | None = None,
                    **settings: Any) -> Reply:
    """One request under a total deadline (connect + first byte + whole body), cancellable.

    HTTP libraries time out each read, so a server trickling one byte a second
    never trips them. The request runs in a daemon thread; the caller waits for
    at most ``timeout`` seconds (or until ``cancel`` is set) and then moves on,
    leaving the thread to end by itself (its own read timeouts and, on the
    openai path, a deadline check between body chunks) without holding up exit.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["reply"] = client.complete(messages, timeout=timeout, **settings)
        except BaseException as err:  # handed to the waiting caller
            box["error"] = err
        finally:
            done.set()

    threading.Thread(target=run, name="lawagent-llm-request", daemon=True).start()
    end = time.monotonic() + timeout
    while not done.wait(min(0.05, max(0.0, end - time.monotonic()))):
        if cancel is not None and cancel.is_set():
            raise LLMCallError("cancelled: the run is ending", retryable=False)
        if time.monotonic() >= end:
            raise LLMCallError(f"timed out: no complete reply within {timeout:g} s (the total deadline of a request)")
    if "error" in box:
        err = box["error"]
        raise err if isinstance(err, LLMCallError) else _call_error(err)
    return capped(box["reply"])


def capped(reply: Reply) -> Reply:
    """At most :data:`MAX_REPLY_CHARS` of text, before anything parses or stores it."""
    if len(reply.text) <= MAX_REPLY_CHARS:
        return reply
    return Reply(reply.text[:MAX_REPLY_CHARS], reply.prompt_tokens, reply.completion_tokens, reply.cost,
                 f"{reply.finish_reason or 'stop'}; cut to {MAX_REPLY_CHARS} of {len(reply.text)} characters")


# --------------------------------------------------------------------------
# keys and configuration


@dataclass(frozen=True)
class Endpoint:
    """Where and how to call a model. The key is held here only, never written anywhere."""

    model: str
    api_base: str | None = None
    api_key: str | None = None

    def __repr__(self) -> str:  # never print the key
        return f"Endpoint(model={self.model!r}, api_base={self.api_base!r}, api_key={'***' if self.api_key else None})"


def load_config(path: str | Path | None) -> dict[str, Any]:
    """Read a user's LLM config file (TOML or JSON): model, api_base, api_key or api_key_env."""
    if not path:
        return {}
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except FileNotFoundError:
        raise LawagentError(f"LLM config file {p} does not exist") from None
    except (ValueError, tomllib.TOMLDecodeError) as err:
        raise LawagentError(f"LLM config file {p} is not valid {'JSON' if p.suffix == '.json' else 'TOML'}: {err}") from None
    data = data.get("llm", data)
    allowed = {"model", "api_base", "api_key", "api_key_env"}
    unknown = set(data) - allowed
    if unknown:
        raise LawagentError(f"LLM config file {p}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}")
    return data


def resolve_endpoint(model: str, api_base: str | None, config: dict[str, Any]) -> Endpoint:
    """The key comes from the config file, else the environment; never from the command line."""
    key = config.get("api_key")
    if not key and config.get("api_key_env"):
        key = os.environ.get(str(config["api_key_env"]))
        if not key:
            raise LawagentError(f"environment variable {config['api_key_env']} (named in the LLM config) is not set")
    return Endpoint(model=model, api_base=api_base or config.get("api_base"), api_key=key or None)


def litellm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("litellm") is not None


def make_client(kind: str, endpoint: Endpoint) -> ChatClient:
    """``kind``: 'litellm', 'openai' or 'auto' (litellm if installed, else the openai client)."""
    if kind == "auto":
        kind = "litellm" if litellm_available() else "openai"
    if kind == "litellm":
        if not litellm_available():
            raise LawagentError("the litellm client needs litellm: pip install -e '.[llm]' (or use --client openai)")
        return LiteLLMClient(endpoint)
    if kind == "openai":
        return OpenAIClient(endpoint)
    raise LawagentError(f"unknown LLM client {kind!r}; choose litellm, openai or auto")


# --------------------------------------------------------------------------
# errors


def _retry_after(err: BaseException) -> float | None:
    candidates = [getattr(err, "headers", None), getattr(getattr(err, "response", None), "headers", None),
                  getattr(err, "litellm_response_headers", None)]  # litellm keeps the real headers here
    value = None
    for headers in candidates:
        try:
            value = headers.get("retry-after") or headers.get("Retry-After") if headers else None
        except AttributeError:
            value = None
        if value is not None:
            break
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(str(value)) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _malformed_json(err: BaseException) -> json.JSONDecodeError | None:
    """The JSON error behind ``err``, if any (litellm reports a body it cannot decode as 'HTTP 500')."""
    seen: BaseException | None = err
    for _ in range(10):
        if seen is None or isinstance(seen, json.JSONDecodeError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _call_error(err: BaseException) -> LLMCallError:
    bad_json = _malformed_json(err)
    if bad_json is not None:
        return LLMCallError(f"malformed JSON from the server: {bad_json}", status=0, retryable=True)
    status = getattr(err, "status_code", None) or getattr(getattr(err, "response", None), "status_code", None) or 0
    try:
        status = int(status)
    except (TypeError, ValueError):
        status = 0
    name = type(err).__name__
    timeout = "Timeout" in name or "timed out" in str(err).lower()
    connection = "Connection" in name
    retryable = status in RETRYABLE_STATUS or timeout or connection or status == 0
    if name in ("AuthenticationError", "PermissionDeniedError", "NotFoundError", "BadRequestError") and status not in RETRYABLE_STATUS:
        retryable = False
    what = "timed out" if timeout else (f"HTTP {status}" if status else name)
    message = f"{what}: {str(err).splitlines()[0][:200] if str(err) else name}"
    return LLMCallError(message, status=status, retryable=retryable, retry_after=_retry_after(err))


# --------------------------------------------------------------------------
# the openai package


class OpenAIClient:
    kind = "openai"

    def __init__(self, endpoint: Endpoint):
        from openai import OpenAI

        self.model = endpoint.model
        # "openai/<name>" is litellm's spelling; the server itself knows the model as <name>.
        self.server_model = endpoint.model.split("/", 1)[1] if endpoint.model.startswith("openai/") else endpoint.model
        if "/" in endpoint.model and not endpoint.model.startswith("openai/") and not endpoint.api_base:
            raise LawagentError(f"model {endpoint.model!r} needs litellm (the openai client only speaks to OpenAI-compatible servers); "
                                "pip install -e '.[llm]', or give --api-base for an OpenAI-compatible server")
        key = endpoint.api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if not endpoint.api_base:
                raise LawagentError("no API key: set OPENAI_API_KEY (or point --llm-config at a file with api_key)")
            key = "not-needed"  # local servers ignore it
        self._client = OpenAI(base_url=endpoint.api_base, api_key=key, max_retries=0)

    def complete(self, messages, *, max_tokens, temperature, stop, seed, grammar, timeout) -> Reply:
        """One request; the body is read in chunks, so its size and the deadline are checked as it arrives."""
        import openai

        end = time.monotonic() + timeout
        kwargs: dict[str, Any] = dict(model=self.server_model, messages=messages, max_tokens=max_tokens,
                                      temperature=temperature, timeout=timeout, **_optional(stop, seed, grammar))
        try:
            with self._client.chat.completions.with_streaming_response.create(**kwargs) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_REPLY_BYTES:
                        raise LLMCallError(f"the server's reply is larger than {MAX_REPLY_BYTES // 2**20} MiB; refused",
                                           status=0, retryable=False)
                    if time.monotonic() > end:
                        raise LLMCallError(f"timed out: no complete reply within {timeout:g} s")
        except openai.OpenAIError as err:
            raise _call_error(err) from None
        try:
            data = json.loads(body)
        except ValueError as err:
            raise LLMCallError(f"malformed JSON from the server: {err}", status=0, retryable=True) from None
        return _reply_from_json(data)


def _optional(stop, seed, grammar) -> dict[str, Any]:
    """Request fields sent only when set (the grammar rides in extra_body, as llama.cpp reads it)."""
    out: dict[str, Any] = {}
    if stop:
        out["stop"] = stop
    if seed is not None:
        out["seed"] = seed
    if grammar:
        out["extra_body"] = {"grammar": grammar}
    return out


# --------------------------------------------------------------------------
# litellm


_LITELLM = None


def import_litellm():
    """Import litellm offline and quiet: local cost map, no telemetry, no callbacks."""
    global _LITELLM
    if _LITELLM is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.drop_params = True  # providers that do not take seed/grammar get the rest of the request
        litellm.success_callback = []
        litellm.failure_callback = []
        litellm.callbacks = []
        litellm.turn_off_message_logging = True
        _LITELLM = litellm
    return _LITELLM


class LiteLLMClient:
    kind = "litellm"

    def __init__(self, endpoint: Endpoint):
        self.model = endpoint.model
        self._endpoint = endpoint
        self._litellm = import_litellm()

    def complete(self, messages, *, max_tokens, temperature, stop, seed, grammar, timeout) -> Reply:
        litellm = self._litellm
        ep = self._endpoint
        kwargs: dict[str, Any] = dict(model=ep.model, messages=messages, max_tokens=max_tokens, temperature=temperature,
                                      timeout=timeout, num_retries=0, max_retries=0)
        if ep.api_base:
            kwargs["api_base"] = ep.api_base
        key = ep.api_key
        if not key and ep.api_base and ep.model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
            key = "not-needed"  # a local OpenAI-compatible server
        if key:
            kwargs["api_key"] = key
        kwargs.update(_optional(stop, seed, grammar))
        try:
            resp = litellm.completion(**kwargs)
        except Exception as err:  # litellm maps every provider's errors onto its own classes
            raise _call_error(err) from None
        try:
            cost = float(litellm.completion_cost(completion_response=resp))
            cost = cost if cost > 0 or ep.model in litellm.model_cost else None
        except Exception:
            cost = None  # model not in the local cost map
        return _reply(resp, cost=cost)


def _reply_from_json(data: Any) -> Reply:
    try:
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
        finish = choice.get("finish_reason") or ""
        usage = data.get("usage") or {}
        if not isinstance(text, str):
            raise TypeError
        return Reply(text=text, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                     completion_tokens=int(usage.get("completion_tokens") or 0), cost=None, finish_reason=str(finish))
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        raise LLMCallError("malformed response (JSON without choices[0].message.content)", status=0, retryable=True) from None


def _reply(resp: Any, cost: float | None) -> Reply:
    try:
        choice = resp.choices[0]
        text = choice.message.content or ""
        finish = choice.finish_reason or ""
    except (AttributeError, IndexError, TypeError):
        raise LLMCallError("malformed response (no choices)", status=0, retryable=True) from None
    usage = getattr(resp, "usage", None)
    return Reply(text=text, prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                 completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0), cost=cost, finish_reason=str(finish))
