"""The population: every evaluated candidate, deduplicated, with an archive.

Ranking comes from :mod:`lawagent.selection.rank`; this module only keeps
records. The archive keeps what proposers should build on: the Pareto front of
(complexity, validation error) and the best candidate in each complexity bin
(MAP-Elites style), so simple laws are not crowded out by a slightly better
complicated one. Ordering is deterministic (ties broken by lower complexity,
then earlier id) so that a fixed seed gives a fixed run.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from lawagent.proposers.base import CandidateRecord, ProposalContext, TaskInfo
from lawagent.selection.rank import rank_key

BIN_WIDTH = 4  # complexity nodes per MAP-Elites bin


class Population:
    def __init__(self, bin_width: int = BIN_WIDTH):
        self.bin_width = bin_width
        self.records: list[CandidateRecord] = []
        self.by_key: dict[str, CandidateRecord] = {}
        self.elites: dict[int, CandidateRecord] = {}
        self.n_duplicates = 0
        self._ok: list[CandidateRecord] = []
        self._ranked: list[CandidateRecord] | None = None  # _ok in rank order, sorted when first asked for

    def __len__(self) -> int:
        return len(self.records)

    def seen(self, key: str) -> bool:
        return key in self.by_key

    def add(self, record: CandidateRecord) -> None:
        self.records.append(record)
        if record.key:
            self.by_key.setdefault(record.key, record)
        if record.ranked:  # screened-out candidates are logged and deduplicated, never ranked
            self._ok.append(record)
            self._ranked = None
            b = record.complexity // self.bin_width
            cur = self.elites.get(b)
            if cur is None or rank_key(record) < rank_key(cur):
                self.elites[b] = record

    def extend(self, records: Iterable[CandidateRecord]) -> None:
        for r in records:
            self.add(r)

    # -- views -------------------------------------------------------------
    @property
    def n_ok(self) -> int:
        """Candidates that can be ranked (a full evaluation that succeeded), not every ``ok`` record."""
        return len(self._ok)

    def stages(self) -> dict[str, int]:
        """How many candidates racing left at each stage (screen, fold1, full)."""
        out: dict[str, int] = {}
        for r in self.records:
            out[r.stage] = out.get(r.stage, 0) + 1
        return out

    def best(self, k: int = 1) -> list[CandidateRecord]:
        """The k best fully evaluated candidates by selection score (sorted once per change: the progress
        line asks ten times a second, the population changes once per iteration)."""
        if self._ranked is None:
            self._ranked = sorted(self._ok, key=rank_key)
        return self._ranked[:k]

    def pareto(self) -> list[CandidateRecord]:
        """Candidates no simpler one beats on selection score, by increasing complexity."""
        front: list[CandidateRecord] = []
        for r in sorted(self._ok, key=lambda r: (r.complexity, -r.score, r.id)):
            if not front or r.score > front[-1].score:
                if front and front[-1].complexity == r.complexity:
                    continue
                front.append(r)
        return front

    def archive(self) -> list[CandidateRecord]:
        """Pareto front plus per-bin elites, deduplicated, best first."""
        seen: dict[int, CandidateRecord] = {}
        for r in [*self.pareto(), *self.elites.values()]:
            seen.setdefault(r.id, r)
        return sorted(seen.values(), key=rank_key)

    def failures(self, k: int = 8) -> list[CandidateRecord]:
        """The most recent failed candidates (with their error messages)."""
        out = []
        for r in reversed(self.records):
            if not r.ok:
                out.append(r)
                if len(out) >= k:
                    break
        return out

    def context(self, info: TaskInfo, n: int, iteration: int, rng: np.random.Generator,
                seed_laws: Sequence[str] = (), n_best: int = 12, n_diverse: int = 12, n_failures: int = 6) -> ProposalContext:
        """What a proposer sees: the best, a diverse sample of the archive, recent failures."""
        best = self.best(n_best)
        taken = {r.id for r in best}
        pool = [r for r in self.archive() if r.id not in taken]
        if len(pool) > n_diverse:
            idx = np.sort(rng.choice(len(pool), size=n_diverse, replace=False))
            pool = [pool[i] for i in idx]
        return ProposalContext(info=info, best=best, diverse=pool, failures=self.failures(n_failures), n=n,
                               iteration=iteration, rng=rng, seed_laws=tuple(seed_laws))
