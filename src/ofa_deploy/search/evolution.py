"""Regularised evolution over an OFA space, vectorised (Real et al. 2019, as used by OFA, ICLR 2020).

The algorithm and defaults are those of the OFA tutorial `EvolutionFinder`: a population of 100
feasible archs drawn at random; then, for 500 generations, the best 25% are the parents and 100
children are made from them, half by mutation (each block slot, stage depth and the resolution
resampled with probability 0.1) and half by crossover (every gene taken from either parent);
a child that breaks a budget is remade from the same parent(s). Every budget (latency, FLOPs,
params) is checked at once.

What differs is only how: the population is integer arrays (`Genes`), a generation is a handful
of numpy gathers plus one batched predictor call, and infeasible children are remade in bulk.
Children whose encoding was already predicted are not predicted again (a cache keyed by the
feature bytes): in a converged population most crossovers reproduce a parent. A child that is
still infeasible after `max_retries` rounds is replaced by a copy of its parent (the tutorial
loops forever). The best arch is the best ever evaluated, final generation included.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .. import checks
from ..errors import BudgetError
from ..space import FamilyArch
from .problem import Budget, Genes, Problem

_TOL = 1e-9


@dataclass(frozen=True)
class EvolutionConfig:
    """The OFA tutorial defaults."""

    population: int = 100
    generations: int = 500
    parent_ratio: float = 0.25
    mutation_ratio: float = 0.5
    mutate_prob: float = 0.1
    resolution_mutate_prob: float = 0.1
    max_retries: int = 50
    init_draws: int = 200_000

    def __post_init__(self) -> None:
        # at least 4 so that a quarter of the population (the parents) is one arch or more
        checks.count(self.population, "--population", checks.MAX_EVOLUTION, lo=4)
        checks.count(self.generations, "--generations", checks.MAX_EVOLUTION)
        for name in ("parent_ratio", "mutation_ratio", "mutate_prob", "resolution_mutate_prob"):
            checks.fraction(getattr(self, name), name, zero=True, one=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchResult:
    arch: FamilyArch
    accuracy: float
    latency_ms: float | None
    flops: int
    params: int
    budget: Budget
    seed: int
    seconds: float
    resolutions: tuple[int, ...]
    config: EvolutionConfig
    history: list[float] = field(default_factory=list)
    evaluated: int = 0
    predicted: int = 0
    # A sample of the distinct subnets the search predicted (`population_sample`): what the report
    # plots as accuracy vs latency; None when not kept.
    population: dict[str, list[float]] | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "arch": self.arch.to_dict(),
            "accuracy": self.accuracy,
            "latency_ms": self.latency_ms,
            "flops": self.flops,
            "params": self.params,
            "budget": self.budget.to_dict(),
            "seed": self.seed,
            "seconds": self.seconds,
            "resolutions": list(self.resolutions),
            "evaluated": self.evaluated,
            "predicted": self.predicted,
        }


@contextmanager
def _single_blas_thread() -> Iterator[None]:
    """The predictor's matrices are small: one BLAS thread is faster, and never fights other jobs."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


class _AccuracyCache:
    """Predicted accuracy by encoding: each distinct subnet is predicted once per search.

    Calls return the accuracies and an integer id per distinct subnet (equal ids: equal subnets,
    inactive slots ignored), which the selection uses to keep parents distinct.
    """

    def __init__(self, problem: Problem):
        self.problem = problem
        self.ids: dict[bytes, int] = {}
        self.values = np.full(1024, np.nan)
        self.predicted = 0
        self._enc = problem._accuracy_fast
        self.rows: list[np.ndarray] = []  # the genes of each distinct subnet, in id order

    def __call__(self, g: Genes, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pb = self.problem
        if self._enc is not None:
            enc, buckets = self._enc
            x = enc.encode_genes(pb.genes, g.genes, mask, buckets[g.r])
            keys = np.packbits(x.astype(bool), axis=1)
        else:
            x = None
            keys = np.concatenate([pb.genes.key_rows(g.genes, mask), g.r[:, None]], axis=1).astype(np.uint8)
        ids = np.empty(len(g), dtype=np.int64)
        new_rows: list[int] = []
        for i, key in enumerate(keys):
            kb = key.tobytes()
            j = self.ids.get(kb)
            if j is None:
                j = len(self.ids)
                self.ids[kb] = j
                new_rows.append(i)
            ids[i] = j
        if new_rows:
            idx = np.asarray(new_rows)
            sub = g.take(idx)
            self.rows.append(sub.x.copy())
            if x is not None:
                pred = pb.predictor.predict_features(x[idx]).astype(np.float64)
            else:
                pred = pb.accuracy(sub, mask[idx])
            if len(self.ids) > len(self.values):
                grown = np.full(max(2 * len(self.values), len(self.ids)), np.nan)
                grown[: len(self.values)] = self.values
                self.values = grown
            self.values[ids[idx]] = pred
            self.predicted += len(idx)
        return self.values[ids], ids


def _distinct_top(acc: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """Indices of the `n` best rows, distinct subnets first (duplicates only if too few distinct)."""
    order = np.argsort(-acc, kind="stable")
    _, first = np.unique(ids[order], return_index=True)
    first.sort()
    top = order[first[:n]]
    if len(top) < n:
        rest = np.setdiff1d(order, top, assume_unique=True)
        rest = order[np.isin(order, rest)]
        top = np.concatenate([top, rest[: n - len(top)]])
    return top


class Evolution:
    """One search: `run()` returns a `SearchResult`. Holds its RNG; no global random state."""

    def __init__(self, problem: Problem, budget: Budget, config: EvolutionConfig | None = None, seed: int = 0):
        self.problem = problem
        self.budget = budget
        self.config = config or EvolutionConfig()
        self.seed = checks.seed(seed)
        self.rng = np.random.default_rng(self.seed)
        limits = budget.limits()
        missing = [n for n in limits if n not in problem.objectives]
        if missing:
            raise BudgetError("a latency budget needs a latency table: give --device D or --table T")
        self.names = tuple(limits)
        self.limits = np.array([limits[n] for n in self.names]) * (1 + _TOL)
        gs = problem.genes
        self.nr = len(problem.resolutions)
        self.evaluated = 0
        # Per column: how many choices, and which mutation draw decides it (the kind's groups: a
        # MobileNet slot's kernel and expand ratio are resampled together, as the tutorial does);
        # per draw: the probability it resamples.
        self._counts = np.append(gs.counts, self.nr).astype(np.float64)
        self._groups = np.append(gs.groups, gs.n_groups)
        self._probs = np.array([self.config.mutate_prob] * gs.n_groups + [self.config.resolution_mutate_prob])

    # ---- feasibility ------------------------------------------------------------------------
    def _feasible(self, g: Genes, mask: np.ndarray) -> np.ndarray:
        self.evaluated += len(g)
        if not self.names:
            return np.ones(len(g), dtype=bool)
        return (self.problem.costs(g, self.names, mask) <= self.limits).all(axis=1)

    # ---- operators --------------------------------------------------------------------------
    def _mutate(self, parents: Genes) -> Genes:
        x = parents.x.copy()
        draw = self.rng.random((len(x), len(self._probs))) < self._probs
        m = draw[:, self._groups]  # columns of one group mutate together
        x[m] = (self.rng.random(int(m.sum())) * np.broadcast_to(self._counts, x.shape)[m]).astype(np.int64)
        return Genes.of(x)

    def _crossover(self, a: Genes, b: Genes) -> Genes:
        return Genes.of(np.where(self.rng.random(a.x.shape) < 0.5, a.x, b.x))

    def _children(self, make: Any, sources: tuple[Genes, ...]) -> tuple[Genes, np.ndarray]:
        """Children of `sources` by `make`, remade where infeasible; parent copies after max_retries.

        Rejection in bulk: a row still to be made gets several independent tries per round (as
        many as the acceptance rate so far suggests) and keeps the first feasible one, which is
        what remaking it one try at a time would give.
        """
        n = len(sources[0])
        child = Genes.of(np.empty_like(sources[0].x))
        mask = np.zeros((n, self.problem.genes.n_slots), dtype=bool)
        todo = np.arange(n)
        reps = 1
        for _ in range(self.config.max_retries):
            rows = np.repeat(todo, reps)
            cand = make(*(s.take(rows) for s in sources))
            cmask = self.problem.mask(cand)
            ok = self._feasible(cand, cmask)
            ok2 = ok.reshape(len(todo), reps)
            has = ok2.any(axis=1)
            pick = (np.arange(len(todo)) * reps + ok2.argmax(axis=1))[has]
            dest = todo[has]
            child.x[dest] = cand.x[pick]
            mask[dest] = cmask[pick]
            todo = todo[~has]
            if not len(todo):
                break
            rate = max(float(ok.mean()), 1.0 / 256)
            reps = int(min(256, max(2, np.ceil(1.25 / rate))))
        if len(todo):
            first = sources[0].take(todo)
            child.x[todo] = first.x
            mask[todo] = self.problem.mask(first)
        return child, mask

    # ---- initial population -----------------------------------------------------------------
    def _initial(self) -> tuple[Genes, np.ndarray]:
        """`population` feasible archs drawn uniformly (rejection), topped up by mutation if rare."""
        cfg, pb = self.config, self.problem
        found: list[Genes] = []
        n_found, drawn = 0, 0
        chunk = max(4 * cfg.population, 2000)
        while n_found < cfg.population and drawn < cfg.init_draws:
            g = pb.random_genes(chunk, self.rng)
            drawn += chunk
            ok = self._feasible(g, pb.mask(g))
            if ok.any():
                found.append(g.take(np.nonzero(ok)[0]))
                n_found += int(ok.sum())
        if n_found == 0:
            # Feasible archs are too rare to draw: start from the smallest ones.
            seeds = [pb._smallest_genes()]
            for name in self.names:
                _, arch = pb.minimum(name)
                seeds.append(pb.from_batch(pb.batch_of([arch])))
            g = Genes.concat(seeds)
            ok = self._feasible(g, pb.mask(g))
            if not ok.any():
                lows = []
                for name in self.names:
                    low, _ = pb.minimum(name)
                    lows.append(f"{name} {pb.objectives[name].format(low)}")
                raise BudgetError(
                    f"no subnet found that meets all of {self.budget.describe()} at once; each alone can be met "
                    f"(smallest achievable: {', '.join(lows)}), but not together: relax one of them"
                )
            found = [g.take(np.nonzero(ok)[0])]
            n_found = int(ok.sum())
        pool = Genes.concat(found)
        if n_found < cfg.population:
            # Top up by random walks from the feasible ones found (mutation with rejection).
            while len(pool) < cfg.population:
                idx = self.rng.integers(len(pool), size=cfg.population - len(pool))
                kids, _ = self._children(self._mutate, (pool.take(idx),))
                pool = Genes.concat([pool, kids])
        pool = pool.take(np.arange(cfg.population))
        return pool, pb.mask(pool)

    # ---- main loop ----------------------------------------------------------------------------
    def run(self) -> SearchResult:
        return self.run_top(1)[0]

    def run_top(self, k: int = 1) -> list[SearchResult]:
        """The `k` best distinct subnets of the final population, best first (fewer when the
        population holds fewer distinct ones); the first is what `run()` returns. Every one meets
        the budget (children that do not are remade or replaced by their parent)."""
        t0 = time.perf_counter()
        cfg, pb = self.config, self.problem
        self.problem.check_budget(self.budget)
        n_mut = round(cfg.mutation_ratio * cfg.population)
        n_par = round(cfg.parent_ratio * cfg.population)
        cache = _AccuracyCache(pb)
        history: list[float] = []
        with _single_blas_thread():
            pop, mask = self._initial()
            acc, ids = cache(pop, mask)
            best_acc, best = -np.inf, None
            for _ in range(cfg.generations):
                order = _distinct_top(acc, ids, n_par)
                parents, pmask, pacc, pids = pop.take(order), mask[order], acc[order], ids[order]
                if pacc[0] > best_acc:
                    best_acc, best = float(pacc[0]), parents.take(np.array([0]))
                history.append(best_acc)
                mut, mmask = self._children(self._mutate, (parents.take(self.rng.integers(n_par, size=n_mut)),))
                n_x = cfg.population - n_mut
                a = parents.take(self.rng.integers(n_par, size=n_x))
                b = parents.take(self.rng.integers(n_par, size=n_x))
                cross, cmask = self._children(self._crossover, (a, b))
                kids = Genes.concat([mut, cross])
                kmask = np.concatenate([mmask, cmask])
                kacc, kids_ids = cache(kids, kmask)
                pop = Genes.concat([parents, kids])
                mask = np.concatenate([pmask, kmask])
                acc = np.concatenate([pacc, kacc])
                ids = np.concatenate([pids, kids_ids])
            i = int(np.argmax(acc))
            if acc[i] > best_acc or best is None:
                best_acc, best = float(acc[i]), pop.take(np.array([i]))
        assert best is not None
        seconds = time.perf_counter() - t0
        out = [self._result(best, best_acc, history, seconds, cache.predicted)]
        if k > 1:
            order = np.argsort(-acc, kind="stable")
            _, first = np.unique(ids[order], return_index=True)
            seen = {out[0].arch}
            for j in order[np.sort(first)]:
                if len(out) >= k:
                    break
                r = self._result(pop.take(np.array([j])), float(acc[j]), history, seconds, cache.predicted)
                if r.arch not in seen:
                    seen.add(r.arch)
                    out.append(r)
        population = population_sample(pb, cache, self.seed)
        return [dataclasses.replace(r, population=population) for r in out]

    def _result(self, best: Genes, acc: float, history: list[float], seconds: float, predicted: int) -> SearchResult:
        pb = self.problem
        names = tuple(n for n in ("latency", "flops", "params") if n in pb.objectives)
        vals = dict(zip(names, pb.costs(best, names)[0]))
        # Report the values of the public predictors for the exact arch that is written out.
        res = arch_result(pb, pb.to_arch(best, 0), self.budget, self.config, self.seed)
        lat = res.latency_ms
        if abs(res.accuracy - acc) > 1e-5 or (lat is not None and abs(lat - vals["latency"]) > 1e-6 * max(1.0, lat)):
            raise AssertionError("search fast path disagrees with the predictors")  # pragma: no cover
        res.seconds, res.history, res.evaluated, res.predicted = seconds, history, self.evaluated, predicted
        return res


def arch_result(problem: Problem, arch: FamilyArch, budget: Budget, config: EvolutionConfig | None = None,
                seed: int = 0) -> SearchResult:
    """A `SearchResult` for a given arch (predicted accuracy and latency, FLOPs, params), as if a
    search had found it: `search --verify` measures the cheapest subnets it can predict this way."""
    from ..space import cost_model

    batch = problem.batch_of([arch])
    lat = float(problem.table.predict(batch, calibrated=True)[0]) if problem.table is not None else None
    cm = cost_model(problem.spec)
    return SearchResult(
        arch=arch, accuracy=float(problem.predictor.predict(batch)[0]), latency_ms=lat,
        flops=int(cm.macs(batch)[0]), params=int(cm.params(batch)[0]), budget=budget, seed=seed, seconds=0.0,
        resolutions=problem.resolutions, config=config or EvolutionConfig(),
    )


POPULATION_SAMPLE = 1500


def population_sample(pb: Problem, cache: _AccuracyCache, seed: int, n: int = POPULATION_SAMPLE
                      ) -> dict[str, list[float]]:
    """Up to `n` of the distinct subnets the search predicted (the 100 most accurate, then a seeded
    sample drawn apart from the search's own random stream), with their predicted accuracy and costs,
    rounded to keep files small."""
    if not cache.rows:
        return {"accuracy": [], "total": 0}
    x = np.concatenate(cache.rows)
    acc = cache.values[: len(x)]
    pick = np.arange(len(x))
    if len(x) > n:  # the best 100 (the front's top and the delivered subnet), the rest drawn at random
        best = np.argsort(-acc, kind="stable")[:100]
        rest = np.setdiff1d(pick, best)
        pick = np.sort(np.concatenate([best, np.random.default_rng(seed).choice(rest, n - len(best), replace=False)]))
    g = Genes.of(x[pick])
    names = tuple(k for k in ("latency", "flops") if k in pb.objectives)
    out: dict[str, Any] = {"accuracy": [round(float(a), 5) for a in acc[pick]], "total": len(x)}
    if names:
        costs = pb.costs(g, names, pb.mask(g))
        for j, name in enumerate(names):
            key = {"latency": "latency_ms"}.get(name, name)
            out[key] = [float(f"{v:.5g}") for v in costs[:, j]]
    return out


def search(problem: Problem, budget: Budget, config: EvolutionConfig | None = None, seed: int = 0) -> SearchResult:
    """Best predicted-accuracy subnet of `problem` within `budget` (regularised evolution)."""
    return Evolution(problem, budget, config, seed).run()


def search_top(problem: Problem, budget: Budget, k: int, config: EvolutionConfig | None = None,
               seed: int = 0) -> list[SearchResult]:
    """The `k` best distinct subnets by predicted accuracy within `budget`, best first; the first is
    `search(...)`'s (same seed, same evolution). `search --verify` measures them all."""
    return Evolution(problem, budget, config, seed).run_top(k)
