"""The built-in offline proposer: symbolic evolution over sympy expressions.

It starts from building blocks (:mod:`lawagent.proposers.blocks`: generic motifs
and, unless ``blocks="generic"``, the literature's law families) instantiated
over the task's features, then evolves the population it is
shown: mutate a subtree, insert or drop a term, tie parameters of one role or untie them,
swap a feature for its log, cross over terms between parents, simplify, and
separate a parameter that plays two roles into two (the readable form; such
parents are picked less often, see :func:`fitness`), and, with ``log_y`` where
the target is positive, fit the same expression to the log of the target or back.
Every child is parsed back through the law language and kept within the
parameter budget. Children inherit their parent's fitted values as starting
points, so a mutation rarely fits worse than its parent did.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator

import numpy as np
import sympy

from lawagent.errors import FormulaError
from lawagent.law.law import LOG_TARGET, Law, symbol, to_text
from lawagent.proposers.base import CandidateRecord, Proposal, ProposalContext, TaskInfo
from lawagent.proposers.blocks import POSITIVE, FeatureKinds, Gene, Names, instantiate, random_term, raw_wide_term
from lawagent.readable.roles import parameter_roles, split_roles
from lawagent.selection import rank

Genome = list[Gene]  # one gene per target
ATTEMPTS = 25  # children tried per wanted proposal before an iteration gives up
# The memos below are caches (a value is a function of its key): the oldest entries go beyond this many,
# so an hours-long run does not grow without bound; what is proposed is the same either way.
MEMO_LIMIT = 50_000
# The child of an operator that would break the parameter budget, not built (see SymbolicProposer._built).
OVER_BUDGET = Gene(sympy.Symbol("over_budget"))


class SymbolicProposer:
    """Evolve law forms without any model or network. Deterministic for a seed."""

    name = "symbolic"

    def __init__(self, info: TaskInfo, seed: int = 0, fresh_fraction: float = 0.2, blocks: str = "all",
                 log_y: bool = False):
        self.info = info
        self.seed = seed
        self.fresh_fraction = fresh_fraction
        self.features = tuple(info.features)
        self.feature_syms = {symbol(f) for f in self.features}
        self.building = info.varying_features  # not a feature with one value in every training row
        self.kinds = FeatureKinds.from_ranges(self.building, info.feature_ranges)
        self.wide_syms = {symbol(f) for f in self.kinds.wide}
        self.n_targets = len(info.targets)
        self.budget = info.parameter_budget
        self.blocks = blocks
        # laws fitted to log y (``log(y) = ...``), where the target is positive: on request, since on the
        # development split they did not improve the search (docs/benchmarks/DEVLOG.md)
        self.log_targets = log_y and info.positive_targets
        self.templates = list(instantiate(self.kinds, self.building, blocks=blocks, log_y=self.log_targets))
        self._template_queue = list(range(len(self.templates)))
        np.random.default_rng(seed).shuffle(self._template_queue)
        self._bounds: dict[str, dict[str, tuple[float, float]]] = {}  # law text -> bounds it was proposed with
        self._proposed: set[str] = set()
        self._tried: set[tuple[sympy.Expr, ...]] = set()  # every child expression seen, proposed or rejected
        self._initials: dict[int, dict[str, float]] = {}  # parent id -> its fitted values as starting points
        # A worn-out neighbourhood asks for the same child again and again (most attempts late in a run):
        # what an operator makes from a parent and its random choices is built once, and the parents'
        # genomes and the analyses the operators draw from are kept (sympy is most of the proposer's time).
        self._children: dict[tuple, Gene | None] = {}
        self._genomes: dict[str, Genome | None] = {}
        self._analyses: dict[tuple, object] = {}
        self._fitness: dict[int, float] = {}  # id() of this call's parents -> fitness, the tournaments' key
        self._template_genomes: dict[int, Genome] = {}  # template index -> its genome: fresh templates repeat

    # -- public -----------------------------------------------------------
    def propose(self, context: ProposalContext) -> list[Proposal]:
        return [p for p in self.attempts(context) if p is not None]

    def attempts(self, context: ProposalContext) -> Iterator[Proposal | None]:
        """:meth:`propose` one attempt at a time: its proposal, or None when it made nothing new (the
        loop evaluates the first proposals while the rest are written)."""
        rng = context.rng
        parents = [c for c in context.best + context.diverse if c.ok]
        self._fitness = {id(c): fitness(c) for c in parents}
        n, attempts = 0, 0
        # a population whose neighbourhood is worn out yields mostly children made before: stop
        # trying after ATTEMPTS per wanted proposal and let the next iteration's parents try
        while n < context.n and attempts < context.n * ATTEMPTS:
            attempts += 1
            if self._template_queue and (not parents or rng.random() < 0.5):
                proposal = self._from_template(self._template_queue.pop(0), rng)
            elif not parents or rng.random() < self.fresh_fraction:
                proposal = self._from_template(int(rng.integers(len(self.templates))), rng)
            else:
                proposal = self._mutate(parents, rng)
            if proposal is not None:
                n += 1
            yield proposal

    # -- construction -----------------------------------------------------
    def _from_template(self, index: int, rng: np.random.Generator) -> Proposal | None:
        label = self.templates[index][0]
        return self._finish(self._template_genome(index), f"symbolic:block:{label}", {})

    def _template_genome(self, index: int) -> Genome:
        """A template over fresh names, built once: a small task's few templates are drawn again and again,
        and a template's genome depends on its index alone."""
        if index not in self._template_genomes:
            build = self.templates[index][1]
            self._template_genomes[index] = [build(Names(suffix=self._suffix(t))) for t in range(self.n_targets)]
        return self._template_genomes[index]

    def _suffix(self, t: int) -> str:
        return "" if self.n_targets == 1 else f"_{t + 1}"

    def _finish(self, genome: Genome, origin: str, initial: dict[str, float]) -> Proposal | None:
        """Validate through the law language; reject over-budget or repeated children."""
        if any(g is OVER_BUDGET for g in genome):
            return None
        exprs = [g.expr for g in genome]
        shape = tuple(exprs) + tuple(t for t, g in enumerate(genome) if g.log_target)
        if shape in self._tried:  # made before: the same verdict again, without printing and parsing it
            return None
        self._tried.add(shape)
        if not self._admissible(exprs):
            return None
        bounds = {k: v for g in genome for k, v in g.bounds.items()}
        try:
            texts = [LOG_TARGET + to_text(g.expr) if g.log_target else to_text(g.expr) for g in genome]
            law = Law.parse(texts, self.features, targets=self.info.targets, budget=self.budget)
        except (FormulaError, ValueError, TypeError):
            return None
        bounds = {k: v for k, v in bounds.items() if k in law.parameters}
        key = law.text()
        if key in self._proposed:
            return None
        self._proposed.add(key)
        self._bounds[key] = bounds
        self._genomes.pop(key, None)  # a parent read before with no bounds of ours (a seed law) has them now
        init = {k: v for k, v in initial.items() if k in law.parameters and math.isfinite(v)}
        return Proposal(tuple(texts), origin=origin, bounds=bounds, initial=init)

    def _admissible(self, exprs: list[sympy.Expr]) -> bool:
        """The checks that need no printing: every target uses a feature, the parameters fit the budget, no
        wide-ranging feature enters raw. Two children in three break the budget: counted before the
        polynomial test, which costs more (the parser would reject exactly these: it reads back the same
        symbols)."""
        symbols = [e.free_symbols for e in exprs]
        if any(not s & self.feature_syms for s in symbols):
            return False
        if self.budget is not None and len(set().union(*symbols) - self.feature_syms) > self.budget:
            return False
        return not any(raw_wide_term(e, self.wide_syms) for e in exprs)

    def _genome(self, record: CandidateRecord) -> Genome | None:
        """The parent's genes (shared: operators build new genes, they never change one)."""
        if record.formula in self._genomes:
            return self._genomes[record.formula]
        try:
            law = Law.parse(record.formula, self.features, targets=self.info.targets)
        except FormulaError:
            genome = None
        else:
            bounds = self._bounds.get(record.formula, {})
            genome = [Gene(e, {k: v for k, v in bounds.items() if symbol(k) in e.free_symbols}, t in law.log_fitted)
                      for t, e in enumerate(law.expressions)]
        _remember(self._genomes, record.formula, genome)
        return genome

    def _built(self, gene: Gene, t: int, choice: tuple, build: Callable[[], Gene | None],
               grows: int = 0) -> Gene | None:
        """``build()``, the child an operator makes of ``gene`` with these random ``choice``s, made once:
        ``choice`` names the operator and every draw it made, so it determines the child. The child fits
        what its parent fits: the target, or its log.

        ``grows``: fresh parameters the child surely adds while keeping all of its parent's (an operator
        that only adds). A child that breaks the budget that way is not built (:data:`OVER_BUDGET`: most
        children of a parent at the budget, and sympy's evaluation is most of the proposer's time); its
        operator has made all its draws already, so the random stream is the same as if it were built."""
        if grows and self.budget is not None and len(self._params(gene.expr)) + grows > self.budget:
            return OVER_BUDGET
        key = (gene.expr, tuple(sorted(gene.bounds.items())), gene.log_target, t) + choice
        if key not in self._children:
            child = build()
            if child is not None and gene.log_target:
                child = Gene(child.expr, child.bounds, True)
            _remember(self._children, key, child)
        return self._children[key]

    def _analysis(self, name: str, expr: sympy.Expr, compute: Callable[[], object]):
        """What an operator reads off an expression before drawing (its nodes, roles, ...), computed once."""
        key = (name, expr)
        if key not in self._analyses:
            _remember(self._analyses, key, compute())
        return self._analyses[key]

    # -- evolution --------------------------------------------------------
    def _mutate(self, parents: list[CandidateRecord], rng: np.random.Generator) -> Proposal | None:
        parent = _tournament(parents, rng, self._fitness)
        genome = self._genome(parent)
        if genome is None:
            return None
        t = int(rng.integers(self.n_targets))
        ops: list[tuple[str, Callable]] = [
            ("mutate", self._op_mutate_subtree), ("insert", self._op_insert_term), ("drop", self._op_drop_term),
            ("tie", self._op_tie), ("untie", self._op_untie), ("log", self._op_log_feature),
            ("crossover", None), ("simplify", self._op_simplify), ("constant", self._op_constant),
            ("interact", self._op_interact), ("separate", self._op_separate_roles),
            ("target", self._op_target),
        ]
        # a parent with a parameter in two roles is rewritten into the two-parameter form more often
        weights = np.array([3, 3, 1.5, 1, 1, 1, 2, 0.5, 1, 1.5, 3 if parent.penalty else 0, 1 if self.log_targets else 0])
        name, op = ops[int(rng.choice(len(ops), p=weights / weights.sum()))]
        if name == "crossover":
            other = _tournament(parents, rng, self._fitness)
            other_genome = self._genome(other)
            if other_genome is None:
                return None
            new = self._op_crossover(genome[t], other_genome[t], rng, t)
        else:
            new = op(genome[t], rng, t)
        if new is None:
            return None
        child = list(genome)
        child[t] = new
        # the same operator applied to every target keeps multi-target laws symmetric
        if self.n_targets > 1 and name in ("log", "simplify") and rng.random() < 0.5:
            for u in range(self.n_targets):
                if u != t:
                    other_new = op(genome[u], rng, u)
                    if other_new is not None:
                        child[u] = other_new
        if parent.id not in self._initials:  # a parent is tried many times: its medians once
            self._initials[parent.id] = _initial_from(parent)
        return self._finish(child, f"symbolic:{name}", self._initials[parent.id])

    def _names(self, gene: Gene, t: int) -> Names:
        taken = self._analysis("taken", gene.expr, lambda: [s.name for s in gene.expr.free_symbols])
        return Names(taken, suffix=self._suffix(t))

    def _params(self, expr: sympy.Expr) -> list[sympy.Symbol]:
        return self._analysis("params", expr, lambda: sorted(
            (s for s in expr.free_symbols if s not in self.feature_syms), key=lambda s: s.name))

    def _n_params(self, expr: sympy.Expr) -> int:
        """How many parameters a (small, new) expression has."""
        return len(expr.free_symbols - self.feature_syms)

    def _roles(self, expr: sympy.Expr):
        return self._analysis("roles", expr, lambda: parameter_roles([expr], self.features))

    def _op_target(self, gene: Gene, rng, t) -> Gene | None:
        """The same expression fitted to log y instead of y, or back: errors relative to the target's size,
        and effects that multiply rather than add."""
        return Gene(gene.expr, gene.bounds, not gene.log_target)

    def _op_insert_term(self, gene: Gene, rng, t) -> Gene | None:
        feats = list(self.building)
        f = feats[int(rng.integers(len(feats)))]
        term = random_term(symbol(f), self._names(gene, t), rng, f in self.kinds.positive, f in self.kinds.wide)
        return self._built(gene, t, ("insert", term.expr, tuple(sorted(term.bounds.items()))),
                           lambda: Gene(gene.expr + term.expr, {**gene.bounds, **term.bounds}),
                           grows=self._n_params(term.expr))

    def _op_drop_term(self, gene: Gene, rng, t) -> Gene | None:
        terms = sympy.Add.make_args(gene.expr)
        if len(terms) < 2:
            return None
        i = int(rng.integers(len(terms)))
        return self._built(gene, t, ("drop", i), lambda: Gene(
            sympy.Add(*[x for x in terms if x is not terms[i]]), gene.bounds))

    def _op_tie(self, gene: Gene, rng, t) -> Gene | None:
        """Two parameters of the same role become one (a shared exponent); never an offset tied to a scale,
        which would make one parameter play two roles."""
        def same_role() -> list[list[sympy.Symbol]]:
            roles = self._roles(gene.expr)
            by_role: dict[str, list[sympy.Symbol]] = {}
            for p in self._params(gene.expr):
                by_role.setdefault(roles.role(p.name), []).append(p)
            return [ps for ps in by_role.values() if len(ps) >= 2]

        pairs = self._analysis("same-role", gene.expr, same_role)
        if not pairs:
            return None
        params = pairs[int(rng.integers(len(pairs)))]
        i, j = rng.choice(len(params), 2, replace=False)
        p, q = params[int(i)], params[int(j)]
        return self._built(gene, t, ("tie", p, q), lambda: Gene(
            gene.expr.xreplace({q: p}), {k: v for k, v in gene.bounds.items() if k != q.name}))

    def _op_untie(self, gene: Gene, rng, t) -> Gene | None:
        def shared_params() -> list[sympy.Symbol]:
            params = self._params(gene.expr)
            counts = {p: sum(1 for s in sympy.preorder_traversal(gene.expr) if s == p) for p in params}
            return [p for p, c in counts.items() if c > 1]

        shared = self._analysis("shared", gene.expr, shared_params)
        if not shared:
            return None
        p = shared[int(rng.integers(len(shared)))]

        def build() -> Gene:
            fresh = self._names(gene, t).new("exp" if p.name[0].islower() else "coef")
            done = [False]

            def once(node):
                if node == p and not done[0]:
                    done[0] = True
                    return fresh
                if node.args:
                    return node.func(*[once(a) for a in node.args])
                return node

            return Gene(once(gene.expr), gene.bounds)

        return self._built(gene, t, ("untie", p), build, grows=1)

    def _op_separate_roles(self, gene: Gene, rng, t) -> Gene | None:
        """A parameter in two roles (a coefficient that is also an exponent) becomes two parameters."""
        roles = self._roles(gene.expr)
        if not roles.reused:
            return None
        name = roles.reused[int(rng.integers(len(roles.reused)))]

        def build() -> Gene:
            role = roles.kinds(name)[1]
            fresh = self._names(gene, t).new("exp" if role in ("exponent", "rate") else "coef")
            return Gene(split_roles(gene.expr, self.features, name, fresh), gene.bounds)

        return self._built(gene, t, ("separate", name), build)

    def _op_log_feature(self, gene: Gene, rng, t) -> Gene | None:
        feats = self._analysis("loggable", gene.expr, lambda: [
            f for f in self.kinds.positive
            if symbol(f) in gene.expr.free_symbols and not _inside_log(gene.expr, symbol(f))])
        if not feats:
            return None
        x = symbol(feats[int(rng.integers(len(feats)))])
        if rng.random() < 0.5:
            return self._built(gene, t, ("log", x), lambda: Gene(gene.expr.xreplace({x: sympy.log(x)}), gene.bounds))

        def drift() -> Gene:
            """x -> x * (1 + k log x): a slowly drifting effective size"""
            k = self._names(gene, t).new("exp")
            return Gene(gene.expr.xreplace({x: x * (1 + k * sympy.log(x))}), gene.bounds)

        return self._built(gene, t, ("log-drift", x), drift, grows=1)

    def _op_simplify(self, gene: Gene, rng, t) -> Gene | None:
        def build() -> Gene | None:
            try:
                new = sympy.powsimp(sympy.expand_power_base(gene.expr, force=True), force=True)
            except Exception:  # sympy can raise many things on odd trees; the child is just skipped
                return None
            return Gene(new, gene.bounds) if new != gene.expr else None

        return self._built(gene, t, ("simplify",), build)

    def _op_constant(self, gene: Gene, rng, t) -> Gene | None:
        """Replace a numeric constant with a parameter, or a parameter with 0/1."""
        numbers = self._analysis("numbers", gene.expr, lambda: [
            n for n in sympy.preorder_traversal(gene.expr) if n.is_Number and n not in (sympy.Integer(-1),)])
        if numbers and rng.random() < 0.5:
            num = numbers[int(rng.integers(len(numbers)))]
            return self._built(gene, t, ("constant-param", num), lambda: Gene(
                gene.expr.xreplace({num: self._names(gene, t).new("exp")}), gene.bounds))
        params = self._params(gene.expr)
        if not params:
            return None
        p = params[int(rng.integers(len(params)))]
        value = sympy.Integer(int(rng.integers(0, 2)))

        def build() -> Gene | None:
            new = gene.expr.xreplace({p: value})
            if new.has(sympy.zoo, sympy.nan) or not new.free_symbols & self.feature_syms:
                return None
            return Gene(new, {k: v for k, v in gene.bounds.items() if k != p.name})

        return self._built(gene, t, ("constant-value", p, value), build)

    def _op_interact(self, gene: Gene, rng, t) -> Gene | None:
        """Make an exponent depend on another feature: a -> a + c log(x2)."""
        exps = self._analysis("powers", gene.expr, lambda: [
            n for n in sympy.preorder_traversal(gene.expr) if isinstance(n, sympy.Pow) and not n.exp.is_Number])
        feats = [f for f in self.kinds.positive]
        if not exps or not feats:
            return None
        node = exps[int(rng.integers(len(exps)))]
        x = symbol(feats[int(rng.integers(len(feats)))])

        def build() -> Gene:
            c = self._names(gene, t).new("exp")
            return Gene(gene.expr.xreplace({node: node.base ** (node.exp + c * sympy.log(x))}), gene.bounds)

        return self._built(gene, t, ("interact", node, x), build, grows=1)

    def _op_mutate_subtree(self, gene: Gene, rng, t) -> Gene | None:
        """Replace one subtree (a term, a factor, or a feature occurrence) with a fresh small one."""
        nodes = self._analysis("nodes", gene.expr, lambda: [
            n for n in sympy.preorder_traversal(gene.expr) if n is not gene.expr and not n.is_Number])
        if not nodes:
            return None
        i = int(rng.integers(len(nodes)))
        node = nodes[i]
        names = self._names(gene, t)
        if node in self.feature_syms:
            s = names.new("scale")
            choice = rng.integers(3)
            if choice == 0 and node.name in self.kinds.positive:
                return self._built(gene, t, ("saturate", i), lambda: Gene(
                    gene.expr.xreplace({node: node / (1 + node / s)}), {**gene.bounds, s.name: POSITIVE}), grows=1)
            if choice == 1:
                return self._built(gene, t, ("shift", i), lambda: Gene(
                    gene.expr.xreplace({node: node + s}), {**gene.bounds, s.name: POSITIVE}), grows=1)
            a = names.new("exp")
            return self._built(gene, t, ("power", i), lambda: Gene(gene.expr.xreplace({node: node ** a}), gene.bounds),
                               grows=1)
        if node.free_symbols & self.feature_syms:
            feats = sorted(node.free_symbols & self.feature_syms, key=lambda s: s.name)
            x = feats[int(rng.integers(len(feats)))]
            term = random_term(x, names, rng, x.name in self.kinds.positive, x.name in self.kinds.wide)
            mode = int(rng.integers(3))

            def build() -> Gene:
                # only the replacement drawn is built: sympy evaluates each one as it is made
                if mode == 0:
                    replacement = term.expr
                elif mode == 1:
                    replacement = node + term.expr
                else:
                    replacement = node * (1 + term.expr)
                return Gene(gene.expr.xreplace({node: replacement}), {**gene.bounds, **term.bounds})

            # modes 1 and 2 keep the node (and its parameters) and add the term's; mode 0 drops the node
            return self._built(gene, t, ("subtree", i, term.expr, tuple(sorted(term.bounds.items())), mode), build,
                               grows=self._n_params(term.expr) if mode else 0)
        return None

    def _op_crossover(self, a: Gene, b: Gene, rng, t) -> Gene | None:
        """Add (or swap in) one additive term of another parent, with its parameters renamed apart."""
        terms_b = self._analysis("feature-terms", b.expr, lambda: [
            x for x in sympy.Add.make_args(b.expr) if x.free_symbols & self.feature_syms])
        if not terms_b:
            return None
        i = int(rng.integers(len(terms_b)))
        terms_a = sympy.Add.make_args(a.expr)
        feature_terms = self._analysis("feature-terms", a.expr, lambda: [
            x for x in terms_a if x.free_symbols & self.feature_syms])
        swap = int(rng.integers(len(feature_terms))) if feature_terms and rng.random() < 0.4 else None

        def build() -> Gene:
            term = terms_b[i]
            names = self._names(a, t)
            rename, bounds = {}, {}
            for p in self._params(term):
                role = "scale" if p.name in b.bounds else ("exp" if p.name[0].islower() else "coef")
                rename[p] = names.new(role)
                if p.name in b.bounds:
                    bounds[rename[p].name] = b.bounds[p.name]
            term = term.xreplace(rename)
            if swap is not None:
                out = feature_terms[swap]
                return Gene(sympy.Add(*[x for x in terms_a if x != out]) + term, {**a.bounds, **bounds})
            return Gene(a.expr + term, {**a.bounds, **bounds})

        # added, the term's parameters are renamed apart from the parent's; swapped in, it drops one of its terms
        return self._built(a, t, ("crossover", b.expr, tuple(sorted(b.bounds.items())), i, swap), build,
                           grows=self._n_params(terms_b[i]) if swap is None else 0)


def _inside_log(expr: sympy.Expr, x: sympy.Symbol) -> bool:
    return any(isinstance(n, sympy.log) and x in n.free_symbols for n in sympy.preorder_traversal(expr))


def fitness(c: CandidateRecord) -> float:
    """Validation NMSE inflated by 1% per node, readability penalties charged as nodes
    (:func:`lawagent.selection.rank.cost`): parsimony pressure against bloat and unreadable forms (lower is better)."""
    return (1.0 - c.score) * (1.0 + 0.01 * rank.cost(c))


def _tournament(parents: list[CandidateRecord], rng: np.random.Generator, fitnesses: dict[int, float],
                k: int = 3) -> CandidateRecord:
    """The fittest of ``k`` random parents (``fitnesses``: :func:`fitness` by ``id()`` of each parent)."""
    picks = [parents[int(i)] for i in rng.integers(len(parents), size=min(k, len(parents)))]
    return min(picks, key=lambda c: fitnesses[id(c)])


def _initial_from(parent: CandidateRecord) -> dict[str, float]:
    """The parent's fitted values (median over groups) as starting points for the child."""
    if not parent.params:
        return {}
    names = {p for g in parent.params.values() for p in g}
    out = {}
    for p in names:
        vals = [g[p] for g in parent.params.values() if p in g and g[p] is not None and math.isfinite(g[p])]
        if vals:
            out[p] = float(np.median(vals))
    return out


def _remember(memo: dict, key, value) -> None:
    """``memo[key] = value``, dropping the oldest entry once the memo holds :data:`MEMO_LIMIT`."""
    if len(memo) >= MEMO_LIMIT:
        del memo[next(iter(memo))]
    memo[key] = value
