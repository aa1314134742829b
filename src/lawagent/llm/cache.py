"""A response cache so that a rerun with the same seed makes no new LLM calls.

Keyed by a hash of (model, messages, sampling settings, seed). In a run folder
each reply is stored once, in the transcript (``llm_transcript.jsonl``, one
line per call with its key); the cache reads replies back from there. A user
cache folder shared between runs (``--llm-cache-dir``) gets its own
``llm_cache.jsonl``. Both are append-only: a line cut off by a crash is
skipped when read back, so a resumed run can always use them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any, Iterator

CACHE_FILE = "llm_cache.jsonl"  # in shared cache folders (and in run folders written before replies moved to the transcript)
TRANSCRIPT_FILE = "llm_transcript.jsonl"
_REPLY_FIELDS = ("prompt_tokens", "completion_tokens", "cost", "finish_reason")


def cache_key(model: str, messages: list[dict], settings: dict[str, Any], seed: int | None) -> str:
    blob = json.dumps({"model": model, "messages": messages, "settings": settings, "seed": seed},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _records(path: Path) -> Iterator[dict]:
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut off by a crash
            if isinstance(record, dict):
                yield record


class ResponseCache:
    """Replies by key: read from the run's transcript and shared cache files; new ones go to the shared files."""

    def __init__(self, run_dir: Path | None, shared: list[Path] = ()):
        self.paths = [Path(f) / CACHE_FILE for f in shared]
        self.entries: dict[str, dict] = {}
        self.lock = threading.Lock()
        if run_dir is not None:
            for record in _records(Path(run_dir) / TRANSCRIPT_FILE):
                if isinstance(record.get("key"), str) and isinstance(record.get("reply"), str) and not record.get("error"):
                    self.entries.setdefault(record["key"], {"text": record["reply"],
                                                            **{f: record.get(f) for f in _REPLY_FIELDS}})
        for path in ([Path(run_dir) / CACHE_FILE] if run_dir is not None else []) + self.paths:
            for record in _records(path):
                if isinstance(record.get("key"), str) and isinstance(record.get("reply"), dict):
                    self.entries.setdefault(record["key"], record["reply"])

    def get(self, key: str) -> dict | None:
        with self.lock:
            return self.entries.get(key)

    def put(self, key: str, reply: dict) -> None:
        """Remember ``reply``; the run folder's copy is the transcript line the caller writes."""
        line = json.dumps({"key": key, "reply": reply}, default=str) + "\n"
        with self.lock:
            self.entries[key] = reply
            for path in self.paths:
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(line)
