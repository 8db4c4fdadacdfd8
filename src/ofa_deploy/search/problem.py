"""What a search optimises: one space, its candidate resolutions, and objectives as dense arrays.

Why dense arrays: the evolution evaluates ~100 children per generation for 500 generations, so an
evaluation must be a few numpy gathers, not Python objects. Latency (a lookup-table sum), FLOPs
and params (closed forms) are all additive over block slots at a given resolution, so each is
turned once into `fixed[r] + sum over active slots of slots[r, slot, k, e]`. The arrays are read
off the public predictors (the table's `predict`, the cost model's `params` / `macs`) on a small
designed batch of archs, then checked on random archs; if an objective turns out not to be
additive (a future non-linear calibration, say), it is evaluated through its own `predict` instead.

The population is held as choice indices: kernel and expand index `(N, n_blocks)`, depth index
`(N, n_stages)` and resolution index `(N,)` into the candidate resolutions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BudgetError, LatencyTableError, SpaceError
from ..space import Arch, ArchBatch, SpaceSpec, cost_model, sample_archs
from ..units import format_count, format_ms

OBJECTIVES = ("latency", "flops", "params")
_REL_TOL = 1e-9


class Genes:
    """A population as choice indices, one row per arch, in one integer matrix `x`.

    Columns: kernel index per slot, expand index per slot, depth index per stage, resolution index
    (into the candidate resolutions). One matrix makes copies, takes and crossovers single ops.
    """

    __slots__ = ("nb", "ns", "x")

    def __init__(self, k: np.ndarray, e: np.ndarray, d: np.ndarray, r: np.ndarray):
        k = np.asarray(k)
        self.nb, self.ns = k.shape[1], np.asarray(d).shape[1]
        self.x = np.concatenate([k, np.asarray(e), np.asarray(d), np.asarray(r).reshape(-1, 1)],
                                axis=1).astype(np.int64)

    @classmethod
    def of(cls, x: np.ndarray, nb: int, ns: int) -> Genes:
        g = cls.__new__(cls)
        g.x, g.nb, g.ns = x, nb, ns
        return g

    @property
    def k(self) -> np.ndarray:
        return self.x[:, : self.nb]

    @property
    def e(self) -> np.ndarray:
        return self.x[:, self.nb: 2 * self.nb]

    @property
    def d(self) -> np.ndarray:
        return self.x[:, 2 * self.nb: 2 * self.nb + self.ns]

    @property
    def r(self) -> np.ndarray:
        return self.x[:, -1]

    def __len__(self) -> int:
        return len(self.x)

    def take(self, idx: np.ndarray) -> Genes:
        return Genes.of(self.x[idx], self.nb, self.ns)

    @staticmethod
    def concat(parts: list[Genes]) -> Genes:
        return Genes.of(np.concatenate([p.x for p in parts]), parts[0].nb, parts[0].ns)


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
    """`fixed[ri] + sum_active slots[ri, slot, k, e]`, then `post` (e.g. a latency calibration)."""

    fixed: np.ndarray
    slots: np.ndarray
    post: Callable[[np.ndarray], np.ndarray] | None = None


@dataclass
class Objective:
    name: str
    fn: Callable[[ArchBatch], np.ndarray]
    additive: _Additive | None = None
    unit: str = ""

    def format(self, v: float) -> str:
        return format_ms(v) if self.name == "latency" else format_count(v)


@dataclass
class Problem:
    """A space, its candidate resolutions, the accuracy predictor and the cost objectives."""

    spec: SpaceSpec
    resolutions: tuple[int, ...]
    predictor: Any
    table: Any = None
    device: str | None = None
    objectives: dict[str, Objective] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spec = self.spec
        self._dtab = spec.depth_table  # (n_stages, choices): depth of each stage's depth gene value
        self._nd = spec.n_depth_choices
        self._stage_ix = np.arange(spec.n_stages)
        self._rs = np.asarray(self.resolutions)
        self._slot = np.arange(spec.n_blocks)
        self._slot_stage = spec.slot_stage
        self._slot_pos = spec.slot_pos
        self._stacks: dict[tuple[str, ...], Any] = {}
        costs = cost_model(spec)
        fns: dict[str, tuple[Callable[[ArchBatch], np.ndarray], Callable | None]] = {}
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
    def _decompose(self, raw_fn: Callable[[ArchBatch], np.ndarray], post: Callable | None,
                   full: Callable[[ArchBatch], np.ndarray]) -> _Additive | None:
        spec = self.spec
        nb, ns = spec.n_blocks, spec.n_stages
        nk, ne = len(spec.ks_list), len(spec.expand_list)
        choices = spec.stage_depth_choices
        top = self._nd - 1  # every stage at its largest depth
        R = len(self.resolutions)
        # One designed batch per resolution: the base arch (smallest choices, all slots active),
        # one slot changed at a time, and one stage's depth changed at a time.
        base_k = np.zeros((1, nb), np.int64)
        var_k, var_e = [], []
        for i in range(nb):
            for a in range(nk):
                for b in range(ne):
                    if a or b:
                        k, e = base_k.copy(), base_k.copy()
                        k[0, i], e[0, i] = a, b
                        var_k.append(k)
                        var_e.append(e)
        n_var = len(var_k)
        dd = []
        for s in range(ns):
            for di in range(len(choices[s])):
                d = top[None, :].copy()
                d[0, s] = di
                dd.append(d)
        n_dep = len(dd)
        per_r = 1 + n_var + n_dep
        k_all = np.concatenate([base_k] + var_k + [base_k] * n_dep)
        e_all = np.concatenate([base_k] + var_e + [base_k] * n_dep)
        d_all = np.concatenate([np.tile(top, (1 + n_var, 1))] + dd)
        genes = Genes(np.tile(k_all, (R, 1)), np.tile(e_all, (R, 1)), np.tile(d_all, (R, 1)),
                      np.repeat(np.arange(R), per_r))
        vals = np.asarray(raw_fn(self.to_batch(genes)), dtype=np.float64).reshape(R, per_r)
        base = vals[:, 0]
        rel = np.zeros((R, nb, nk, ne))
        rel[:, :, :, :] = np.nan
        rel[:, :, 0, 0] = 0.0
        vi = 0
        for i in range(nb):
            for a in range(nk):
                for b in range(ne):
                    if a or b:
                        rel[:, i, a, b] = vals[:, 1 + vi] - base
                        vi += 1
        g = vals[:, 1 + n_var:]
        slot_base = np.zeros((R, nb))
        col = 0
        for s in range(ns):
            for t in range(len(choices[s]) - 1):
                slot_base[:, spec.slot(s, choices[s][t])] = g[:, col + t + 1] - g[:, col + t]
            col += len(choices[s])
        slots = rel + slot_base[:, :, None, None]
        fixed = base - slot_base.sum(axis=1)
        add = _Additive(fixed, slots, post)
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
        spec = self.spec
        return Genes(rng.integers(len(spec.ks_list), size=(n, spec.n_blocks)),
                     rng.integers(len(spec.expand_list), size=(n, spec.n_blocks)),
                     rng.integers(self._nd, size=(n, spec.n_stages)),
                     rng.integers(len(self.resolutions), size=n))

    def mask(self, g: Genes) -> np.ndarray:
        """(N, n_blocks) bool: which slots are active."""
        return self._slot_pos[None, :] < self._depth_values(g.d)[:, self._slot_stage]

    def _depth_values(self, d: np.ndarray) -> np.ndarray:
        """(N, n_stages) depths of depth genes (indices into each stage's depth choices)."""
        return self._dtab[self._stage_ix[None, :], d]

    def to_batch(self, g: Genes) -> ArchBatch:
        spec = self.spec
        return ArchBatch(np.asarray(spec.ks_list)[g.k], np.asarray(spec.expand_list)[g.e], self._depth_values(g.d),
                         self._rs[g.r])

    def to_arch(self, g: Genes, i: int) -> Arch:
        return self.to_batch(g.take(np.array([i]))).to_archs()[0].canonical(self.spec)

    def from_batch(self, batch: ArchBatch) -> Genes:
        kidx, eidx = batch.choice_indices(self.spec)
        d = np.asarray(batch.d)
        didx = (self._dtab[None, :, :] < d[:, :, None]).sum(axis=2)  # index of each depth in its stage's choices
        ridx = np.searchsorted(self._rs, batch.r)
        if (kidx < 0).any() or (eidx < 0).any() or not np.isin(batch.r, self._rs).all() \
                or not self.spec.depths_valid(d).all():
            raise SpaceError("archs outside the search's choices or candidate resolutions")
        return Genes(kidx, eidx, didx, ridx)

    # ---- evaluation -------------------------------------------------------------------------
    def _eval_additive(self, add: _Additive, g: Genes, mask: np.ndarray) -> np.ndarray:
        vals = add.slots[g.r[:, None], self._slot[None, :], g.k, g.e]
        raw = add.fixed[g.r] + np.where(mask, vals, 0.0).sum(axis=1)
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
                slots = np.stack([a.slots for a in adds], axis=-1)  # (R, nb, nk, ne, J)
                stack = (slots.reshape(-1, len(fast)), np.stack([a.fixed for a in adds], axis=-1))
                self._stacks[fast] = stack
            slots_flat, fixed = stack
            spec = self.spec
            nk, ne = len(spec.ks_list), len(spec.expand_list)
            flat = ((g.r[:, None] * spec.n_blocks + self._slot[None, :]) * nk + g.k) * ne + g.e
            flat = np.where(mask, flat, -1)
            padded = self._padded(fast, slots_flat)
            raw = fixed[g.r] + padded[flat].sum(axis=1)
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
            x = enc.encode_indices(g.k, g.e, mask, buckets[g.r])
            return self.predictor.predict_features(x).astype(np.float64)
        return np.asarray(self.predictor.predict(self.to_batch(g)), dtype=np.float64)

    # ---- bounds -----------------------------------------------------------------------------
    def minimum(self, name: str) -> tuple[float, Arch]:
        """The smallest value of an objective over the search's candidates, and an arch reaching it.

        Exact for additive objectives (per-slot minima, best depth per stage, best resolution);
        otherwise the smallest among the smallest arch and 20,000 random ones.
        """
        obj = self.objectives[name]
        spec = self.spec
        if obj.additive is None:
            rng = np.random.default_rng(0)
            g = Genes.concat([self._smallest_genes(), self.random_genes(20000, rng)])
            v = self.costs(g, (name,))[:, 0]
            i = int(np.argmin(v))
            return float(v[i]), self.to_arch(g, i)
        add = obj.additive
        best = None
        nk, ne = len(spec.ks_list), len(spec.expand_list)
        for ri in range(len(self.resolutions)):
            flat = add.slots[ri].reshape(spec.n_blocks, nk * ne)
            choice = flat.argmin(axis=1)
            per_slot = flat.min(axis=1)
            didx = np.zeros(spec.n_stages, np.int64)
            total = add.fixed[ri]
            for s, cs in enumerate(spec.stage_depth_choices):
                cum = np.cumsum(per_slot[spec.slot(s, 0):spec.slot(s, 0) + spec.stage_max_depths[s]])
                stage_vals = cum[np.asarray(cs) - 1]  # value of each depth choice of the stage
                didx[s] = int(stage_vals.argmin())
                total = total + stage_vals[didx[s]]
            if best is None or total < best[0]:
                best = (total, choice // ne, choice % ne, didx, ri)
        assert best is not None
        _, k, e, didx, ri = best
        g = Genes(k[None, :], e[None, :], didx[None, :], np.array([ri]))
        value = float(self.costs(g, (name,))[0, 0])
        return value, self.to_arch(g, 0)

    def _smallest_genes(self) -> Genes:
        spec = self.spec
        z = np.zeros((1, spec.n_blocks), np.int64)
        return Genes(z, z.copy(), np.zeros((1, spec.n_stages), np.int64), np.zeros(1, np.int64))

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


def _fast_accuracy(predictor: Any, spec: SpaceSpec, resolutions: tuple[int, ...]) -> tuple[Any, np.ndarray] | None:
    """(encoding, bucket per candidate resolution) when the predictor is a one-hot model of this space."""
    from ..predictor.encoding import OneHotEncoding

    enc = getattr(predictor, "encoding", None)
    if not isinstance(enc, OneHotEncoding) or not hasattr(predictor, "predict_features"):
        return None
    try:
        enc.check_space(spec)
    except SpaceError:
        return None
    return enc, np.asarray(enc.bucket(np.asarray(resolutions)), dtype=np.int64)


def build_problem(spec: SpaceSpec, predictor: Any, table: Any = None, device: str | None = None,
                  resolutions: tuple[int, ...] | None = None, supernet_label: str = "the supernet") -> Problem:
    """Check that table and predictor belong to the supernet's space and pick the resolutions all cover."""
    if not isinstance(spec, SpaceSpec):  # a family of its own (ResNet50): no search genes yet
        raise SpaceError(
            f"search works on MobileNet-family spaces; {spec.kind_info.title} has no search genes or accuracy "
            "predictor yet (its subnets' FLOPs and params, latency tables and export are available)"
        )
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


def uniform_sample(problem: Problem, n: int, rng: np.random.Generator) -> ArchBatch:
    """`n` archs drawn as the search draws its first population (for tests and reports)."""
    return sample_archs(problem.spec, n, rng, problem.resolutions)
