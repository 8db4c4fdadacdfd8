"""What a search optimises: one space, its candidate resolutions, and objectives as dense arrays.

Why dense arrays: the evolution evaluates ~100 children per generation for 500 generations, so an
evaluation must be a few numpy gathers, not Python objects. Latency (a lookup-table sum), FLOPs
and params (closed forms) are all additive over the kind's terms at a given resolution (MobileNet:
one per active block slot, by kernel and expand; ResNet50: the stem, the head and one per active
slot, by its widths and expand), so each is turned once into `fixed[r] + sum of table[r, code]`.
The tables are read off the public predictors (the table's `predict`, the cost model's `params` /
`macs`) on the kind's designed batch of archs (MobileNet: one choice changed at a time; ResNet50: a
least-squares fit on random archs), then checked on other random archs; if an objective turns out not to be
additive (a future non-linear calibration, say), it is evaluated through its own `predict` instead.

The population is held as choice indices in one integer matrix: the gene columns the space's kind
declares (`space.genes`: MobileNet family kernel, expand and depth indices; ResNet50 depth, expand
and width indices), then a resolution index into the candidate resolutions. An additive objective
is a table per resolution over the kind's terms (`term_codes`), gathered and summed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BudgetError, LatencyTableError, SpaceError
from ..space import FamilyArch, FamilyBatch, FamilySpec, cost_model, sample_archs
from ..space.genes import gene_space
from ..units import format_count, format_ms

OBJECTIVES = ("latency", "flops", "params")
_REL_TOL = 1e-9


class Genes:
    """A population as choice indices, one row per arch, in one integer matrix `x`: the gene
    columns the space's kind declares (`space.genes`), then the resolution index (into the
    candidate resolutions). One matrix makes copies, takes and crossovers single ops."""

    __slots__ = ("x",)

    def __init__(self, genes: np.ndarray, r: np.ndarray):
        self.x = np.concatenate([np.asarray(genes), np.asarray(r).reshape(-1, 1)], axis=1).astype(np.int64)

    @classmethod
    def of(cls, x: np.ndarray) -> Genes:
        g = cls.__new__(cls)
        g.x = x
        return g

    @property
    def genes(self) -> np.ndarray:
        return self.x[:, :-1]

    @property
    def r(self) -> np.ndarray:
        return self.x[:, -1]

    def __len__(self) -> int:
        return len(self.x)

    def take(self, idx: np.ndarray) -> Genes:
        return Genes.of(self.x[idx])

    @staticmethod
    def concat(parts: list[Genes]) -> Genes:
        return Genes.of(np.concatenate([p.x for p in parts]))


@dataclass(frozen=True)
class Budget:
    """Upper bounds, each optional: latency in ms, FLOPs (multiply-accumulates), parameters."""

    latency_ms: float | None = None
    flops: float | None = None
    params: float | None = None

    def limits(self) -> dict[str, float]:
        out = {}
        for name, v in zip(OBJECTIVES, (self.latency_ms, self.flops, self.params)):
            if v is not None:
                out[name] = float(v)
        return out

    def describe(self) -> str:
        parts = []
        if self.latency_ms is not None:
            parts.append(f"latency <= {format_ms(self.latency_ms)}")
        if self.flops is not None:
            parts.append(f"FLOPs <= {format_count(self.flops)}")
        if self.params is not None:
            parts.append(f"params <= {format_count(self.params)}")
        return ", ".join(parts) or "no budget"

    def to_dict(self) -> dict[str, float]:
        return {{"latency": "latency_ms"}.get(k, k): v for k, v in self.limits().items()}


@dataclass
class _Additive:
    """`fixed[ri] + sum over present terms of table[ri, code]`, then `post` (e.g. a latency calibration)."""

    fixed: np.ndarray
    table: np.ndarray  # (R, n_codes)
    post: Callable[[np.ndarray], np.ndarray] | None = None


@dataclass
class Objective:
    name: str
    fn: Callable[[FamilyBatch], np.ndarray]
    additive: _Additive | None = None
    unit: str = ""

    def format(self, v: float) -> str:
        return format_ms(v) if self.name == "latency" else format_count(v)


@dataclass
class Problem:
    """A space, its candidate resolutions, the accuracy predictor and the cost objectives."""

    spec: FamilySpec
    resolutions: tuple[int, ...]
    predictor: Any
    table: Any = None
    device: str | None = None
    objectives: dict[str, Objective] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spec = self.spec
        self.genes = gene_space(spec)
        self._rs = np.asarray(self.resolutions)
        self._stacks: dict[tuple[str, ...], Any] = {}
        costs = cost_model(spec)
        fns: dict[str, tuple[Callable[[FamilyBatch], np.ndarray], Callable | None]] = {}
        if self.table is not None:
            table = self.table
            calibrated_post = None
            if table.calibration is not None:
                from ..latency import apply_calibration

                cal = table.calibration

                def calibrated_post(raw: np.ndarray) -> np.ndarray:
                    return apply_calibration(cal, raw)
            fns["latency"] = (lambda b: table.predict(b, calibrated=False), calibrated_post)
        fns["flops"] = (lambda b: costs.macs(b).astype(np.float64), None)
        fns["params"] = (lambda b: costs.params(b).astype(np.float64), None)
        for name, (raw_fn, post) in fns.items():
            full = (lambda b, t=self.table: t.predict(b, calibrated=True)) if name == "latency" else raw_fn
            obj = Objective(name, full)
            obj.additive = self._decompose(raw_fn, post, full)
            self.objectives[name] = obj
        self._accuracy_fast = _fast_accuracy(self.predictor, spec, self.resolutions)

    # ---- decomposition --------------------------------------------------------------------
    def _decompose(self, raw_fn: Callable[[Any], np.ndarray], post: Callable | None,
                   full: Callable[[Any], np.ndarray]) -> _Additive | None:
        gs = self.genes
        R = len(self.resolutions)
        # One designed batch per resolution (the kind's `design`), its values read off the public predictor.
        x = gs.design()
        per_r = len(x)
        g = Genes(np.tile(x, (R, 1)), np.repeat(np.arange(R), per_r))
        vals = np.asarray(raw_fn(self.to_batch(g)), dtype=np.float64).reshape(R, per_r)
        fixed, table = gs.solve(x, vals)
        add = _Additive(fixed, table, post)
        # Check on random archs; a non-additive objective is evaluated through its own function.
        rng = np.random.default_rng(12345)
        probe = self.random_genes(256, rng)
        expect = np.asarray(full(self.to_batch(probe)), dtype=np.float64)
        got = self._eval_additive(add, probe, self.mask(probe))
        if not np.allclose(got, expect, rtol=_REL_TOL, atol=1e-9):
            return None
        return add

    # ---- conversions ------------------------------------------------------------------------
    def random_genes(self, n: int, rng: np.random.Generator) -> Genes:
        x = self.genes.random(n, rng)
        return Genes(x, rng.integers(len(self.resolutions), size=n))

    def mask(self, g: Genes) -> np.ndarray:
        """(N, n_slots) bool: which block slots are active."""
        return self.genes.mask(g.genes)

    def to_batch(self, g: Genes) -> Any:
        return self.genes.to_batch(g.genes, self._rs[g.r])

    def to_arch(self, g: Genes, i: int) -> Any:
        return self.to_batch(g.take(np.array([i]))).to_archs()[0].canonical(self.spec)

    def batch_of(self, archs: list[Any]) -> Any:
        return self.genes.batch_of(archs)

    def from_batch(self, batch: Any) -> Genes:
        x = self.genes.from_batch(batch)
        if not np.isin(batch.r, self._rs).all():
            raise SpaceError("archs outside the search's choices or candidate resolutions")
        return Genes(x, np.searchsorted(self._rs, batch.r))

    # ---- evaluation -------------------------------------------------------------------------
    def _flat_codes(self, g: Genes, mask: np.ndarray) -> np.ndarray:
        """(N, terms) indices into a flattened (R, n_codes) table; -1 (the padded zero) where absent."""
        codes = self.genes.term_codes(g.genes, mask)
        return np.where(codes >= 0, g.r[:, None] * self.genes.n_codes + codes, -1)

    def _eval_additive(self, add: _Additive, g: Genes, mask: np.ndarray) -> np.ndarray:
        padded = np.append(add.table.reshape(-1), 0.0)
        raw = add.fixed[g.r] + padded[self._flat_codes(g, mask)].sum(axis=1)
        return add.post(raw) if add.post is not None else raw

    def costs(self, g: Genes, names: tuple[str, ...], mask: np.ndarray | None = None) -> np.ndarray:
        """(N, len(names)) values of the named objectives (additive ones in one stacked gather)."""
        mask = self.mask(g) if mask is None else mask
        out = np.empty((len(g), len(names)))
        fast = tuple(n for n in names if self.objectives[n].additive is not None)
        if fast:
            stack = self._stacks.get(fast)
            if stack is None:
                adds = [self.objectives[n].additive for n in fast]
                table = np.stack([a.table for a in adds], axis=-1)  # (R, n_codes, J)
                stack = (table.reshape(-1, len(fast)), np.stack([a.fixed for a in adds], axis=-1))
                self._stacks[fast] = stack
            table_flat, fixed = stack
            padded = self._padded(fast, table_flat)
            raw = fixed[g.r] + padded[self._flat_codes(g, mask)].sum(axis=1)
            for j, n in enumerate(fast):
                post = self.objectives[n].additive.post  # type: ignore[union-attr]
                out[:, names.index(n)] = post(raw[:, j]) if post is not None else raw[:, j]
        for j, name in enumerate(names):
            if name not in fast:
                out[:, j] = self.objectives[name].fn(self.to_batch(g))
        return out

    def _padded(self, key: tuple[str, ...], slots_flat: np.ndarray) -> np.ndarray:
        """The stacked slot table with a zero row at the end: inactive slots gather index -1."""
        pk = ("padded",) + key
        arr = self._stacks.get(pk)
        if arr is None:
            arr = (np.concatenate([slots_flat, np.zeros((1, slots_flat.shape[1]))]), None)
            self._stacks[pk] = arr  # type: ignore[assignment]
        return arr[0]

    def accuracy(self, g: Genes, mask: np.ndarray | None = None) -> np.ndarray:
        if self._accuracy_fast is not None:
            enc, buckets = self._accuracy_fast
            mask = self.mask(g) if mask is None else mask
            x = enc.encode_genes(self.genes, g.genes, mask, buckets[g.r])
            return self.predictor.predict_features(x).astype(np.float64)
        return np.asarray(self.predictor.predict(self.to_batch(g)), dtype=np.float64)

    # ---- bounds -----------------------------------------------------------------------------
    def minimum(self, name: str) -> tuple[float, FamilyArch]:
        """The smallest value of an objective over the search's candidates, and an arch reaching it.

        Exact for additive objectives (per-slot minima, best depth per stage, best resolution);
        otherwise the smallest among the smallest arch and 20,000 random ones.
        """
        obj = self.objectives[name]
        if obj.additive is None:
            rng = np.random.default_rng(0)
            g = Genes.concat([self._smallest_genes(), self.random_genes(20000, rng)])
            v = self.costs(g, (name,))[:, 0]
            i = int(np.argmin(v))
            return float(v[i]), self.to_arch(g, i)
        add = obj.additive
        best = None
        for ri in range(len(self.resolutions)):
            total, x = self.genes.minimum(float(add.fixed[ri]), add.table[ri])
            if best is None or total < best[0]:
                best = (total, x, ri)
        assert best is not None
        _, x, ri = best
        g = Genes(x, np.array([ri]))
        value = float(self.costs(g, (name,))[0, 0])
        return value, self.to_arch(g, 0)

    def smallest_arch(self) -> FamilyArch:
        """The space's smallest subnet (every choice at its smallest) at the smallest resolution."""
        return self.to_arch(self._smallest_genes(), 0)

    def _smallest_genes(self) -> Genes:
        return Genes(self.genes.smallest(), np.zeros(1, np.int64))

    def _largest_genes(self) -> Genes:
        return Genes(self.genes.largest(), np.array([len(self.resolutions) - 1]))

    def check_budget(self, budget: Budget) -> None:
        """Raise `BudgetError` when a budget is below the smallest value any candidate reaches."""
        for name, limit in budget.limits().items():
            if name not in self.objectives:
                raise BudgetError("a latency budget needs a latency table: give --device D or --table T")
            low, arch = self.minimum(name)
            if low > limit * (1 + _REL_TOL):
                where = f" on {self.device}" if name == "latency" and self.device else ""
                label = {"latency": "latency", "flops": "FLOPs", "params": "parameter count"}[name]
                obj = self.objectives[name]
                raise BudgetError(
                    f"no subnet meets {label} <= {obj.format(limit)}{where}: the smallest achievable is "
                    f"{obj.format(round(low, 3))} (e.g. {arch.short()}); raise the budget to at least that"
                )


def _fast_accuracy(predictor: Any, spec: Any, resolutions: tuple[int, ...]) -> tuple[Any, np.ndarray] | None:
    """(encoding, bucket per candidate resolution) when the predictor's encoding reads genes
    directly (`encode_genes`: the one-hot encodings of every kind) and is of this space."""
    enc = getattr(predictor, "encoding", None)
    if not hasattr(enc, "encode_genes") or not hasattr(predictor, "predict_features"):
        return None
    try:
        enc.check_space(spec)
    except SpaceError:
        return None
    return enc, np.asarray(enc.bucket(np.asarray(resolutions)), dtype=np.int64)


def build_problem(spec: FamilySpec, predictor: Any, table: Any = None, device: str | None = None,
                  resolutions: tuple[int, ...] | None = None, supernet_label: str = "the supernet") -> Problem:
    """Check that table and predictor belong to the supernet's space and pick the resolutions all cover."""
    if not predictor.spec.same_space(spec):
        raise SpaceError(
            f"the accuracy predictor was made for {predictor.spec.describe()}, but {supernet_label} is "
            f"{spec.describe()}; give a predictor of this supernet (--predictor)"
        )
    cands = set(spec.resolutions) & set(predictor.resolutions)
    why = [f"{supernet_label} {_rs(spec.resolutions)}", f"predictor {_rs(predictor.resolutions)}"]
    if table is not None:
        if not table.spec.same_space(spec):
            raise LatencyTableError(
                f"the latency table of device {table.device!r} was made for {table.spec.describe()}, but "
                f"{supernet_label} is {spec.describe()}; profile this supernet's space on the device "
                "(ofa-deploy profile) or give its table with --table"
            )
        complete = table.complete_resolutions()
        cands &= set(complete)
        why.append(f"latency table {_rs(complete)}")
    if resolutions is not None:
        cands &= {int(r) for r in resolutions}
        why.append(f"requested {_rs(tuple(resolutions))}")
    if not cands:
        raise SpaceError("no resolution is covered by all of: " + "; ".join(why))
    return Problem(spec, tuple(sorted(cands)), predictor, table, device)


def _rs(values: Any) -> str:
    v = sorted(int(x) for x in values)
    return "[" + ",".join(map(str, v)) + "]" if len(v) <= 8 else f"[{v[0]}..{v[-1]}, {len(v)} values]"


def uniform_sample(problem: Problem, n: int, rng: np.random.Generator) -> FamilyBatch:
    """`n` archs drawn as the search draws its first population (for tests and reports)."""
    return sample_archs(problem.spec, n, rng, problem.resolutions)
