"""In-context block costs: rows of the table re-made from whole subnets timed end to end.

Blocks timed alone run 10-40 % off their cost inside a network (LATENCY_NOTES), and a linear
calibration fitted in one session drifts to the next. So after the isolated profile, `profile
--method fit` times random whole subnets of each resolution with the same backend and protocol
(`protocol.measure`, interleaved fresh sessions) and fits every row to those times
(`latency.fit`: ridge toward the isolated row, which stays the prior). `--method profiler`
(onnxruntime only) instead reads onnxruntime's per-node profile of whole subnets and attributes
each node's time to the layer it belongs to.

Why the subnets are stitched from the blocks' own ONNX graphs rather than exported whole: the
exporter takes about 0.3 s per subnet (15 ms per block), which is most of the budget; joining the
already exported block graphs (tensor names prefixed by the layer's position) gives the same
operators in the same order in milliseconds, and the prefixes tell the profiler which layer each
node belongs to. Whole-subnet validation (`latency validate`) still times subnets exported whole,
so any difference between the two would show there.

The isolated rows are kept next to the table (`isolated.csv`), and `meta.yaml` records what was
fitted (`incontext`: method, subnets per resolution, ridge strength, common factor, date).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LatencyTableError
from ..fsio import atomic_write_text, writer_lock
from ..space import FamilyArch, FamilySpec, sample_archs
from .blocks import arch_keys, resolution_keys
from .fit import DEFAULT_LAMBDA, count_matrix, ridge_fit
from .fitlog import FitCheckpoint
from .protocol import Protocol, measure
from .table import METHODS, TABLE_FILE, LatencyTable, Row, read_rows, rows_csv, write_metadata

ISOLATED_FILE = "isolated.csv"   # the rows as timed alone, before the in-context stage replaced them
DEFAULT_METHOD = "fit"
DEFAULT_SUBNETS = 150            # end-to-end subnets per resolution (fit); a tenth of that for profiler
DEFAULT_REMOTE_SUBNETS = 4       # the fit's subnets per resolution on ssh / adb devices (`default_subnets`)
_LAYER = re.compile(r"^L(\d+)/")


# ---- stitched subnets --------------------------------------------------------------------------
def stitch_onnx(parts: Sequence[Any], input_name: str = "x", output_name: str = "y") -> bytes:
    """One ONNX model chaining `parts` (ModelProtos or serialised bytes, each with one input
    `input_name` and one output `output_name`): part i's tensors and nodes are renamed `L<i>/...`,
    and its input is part i-1's output."""
    import onnx

    models = [p if isinstance(p, onnx.ModelProto) else onnx.load_from_string(p) for p in parts]
    if not models:
        raise ValueError("nothing to stitch")
    g = onnx.GraphProto(name="subnet")
    prev = input_name
    for i, m in enumerate(models):
        mg = m.graph
        last = i == len(models) - 1

        def ren(t: str, i: int = i, prev: str = prev, last: bool = last) -> str:
            if t == "":
                return t
            if t == input_name:
                return prev
            if t == output_name and last:
                return output_name
            return f"L{i}/{t.lstrip('/')}"

        for init in mg.initializer:
            t = g.initializer.add()
            t.CopyFrom(init)
            t.name = ren(init.name)
        for node in mg.node:
            n = g.node.add()
            n.CopyFrom(node)
            n.name = ren(node.name or f"{node.op_type}_{len(g.node)}")
            del n.input[:]
            n.input.extend(ren(t) for t in node.input)
            del n.output[:]
            n.output.extend(ren(t) for t in node.output)
        prev = ren(output_name)
    g.input.add().CopyFrom(models[0].graph.input[0])
    g.output.add().CopyFrom(models[-1].graph.output[0])
    first = models[0]
    out = onnx.helper.make_model(g, opset_imports=list(first.opset_import))
    out.ir_version = first.ir_version
    return out.SerializeToString()


class LayerParts:
    """The table entries of one resolution as ready-to-chain parts (ONNX graphs or modules).

    Each block is exported to ONNX once, when first needed, and the same bytes serve the block's
    own entry in a bundle (`blocks`) and every stitched subnet it is part of (`subnet`): a profile
    that times the fit's subnets in the blocks' bundle converts nothing twice, and a fit whose
    subnets were all timed already (its checkpoint) exports nothing."""

    def __init__(self, net: Any, spec: FamilySpec, r: int, needs_onnx: bool, int8: Any = None):
        if int8 is not None and not needs_onnx:
            raise LatencyTableError("an int8 in-context fit times ONNX subnets only (onnxruntime, locally or over "
                                    "ssh); profile this device with --method isolated")
        self.net, self.spec, self.r, self.needs_onnx, self.int8 = net, spec, r, needs_onnx, int8
        self._models: dict[str, Any] | None = None
        self._bytes: dict[str, bytes] = {}
        self._onnx: dict[str, Any] = {}

    @property
    def models(self) -> dict[str, Any]:
        """Every block of the resolution by key (extracted from the supernet on first use)."""
        if self._models is None:
            from .block_models import block_models

            self._models = {m.key: m for m in block_models(self.net, self.spec, self.r)}
        return self._models

    def onnx_bytes(self, key: str) -> bytes:
        """The block's ONNX graph (exported on first use)."""
        if key not in self._bytes:
            from .block_models import onnx_bytes

            m = self.models[key]
            self._bytes[key] = onnx_bytes(m.module, m.input_shape)
        return self._bytes[key]

    def _graph(self, key: str) -> Any:
        if key not in self._onnx:
            import onnx

            self._onnx[key] = onnx.load_from_string(self.onnx_bytes(key))
        return self._onnx[key]

    def blocks(self, keys: Sequence[str]) -> list[Any]:
        """The `BlockModel`s of `keys` as a bundle takes them (with their ONNX bytes when ONNX is timed)."""
        from .block_models import BlockModel

        out = []
        for k in keys:
            m = self.models[k]
            out.append(BlockModel(k, self.r, m.input_shape, m.module,
                                  onnx_bytes=self.onnx_bytes(k) if self.needs_onnx else None))
        return out

    def subnet(self, name: str, arch: FamilyArch) -> Any:
        """A `BlockModel` of the whole subnet `arch`, chained from the parts (what a backend opens)."""
        from torch import nn

        from .block_models import BlockModel

        keys = arch_keys(self.spec, arch)
        shape = (1, self.spec.in_channels, arch.r, arch.r)
        m = BlockModel(name, arch.r, shape)
        if self.needs_onnx:
            m.onnx_bytes = stitch_onnx([self._graph(k) for k in keys])
            if self.int8 is not None:  # quantised whole, on the images: the file `export --int8` ships
                m.onnx_bytes = self.int8.quantise_subnet(m.onnx_bytes, arch.r)
        else:
            m.module = nn.Sequential(*[self.models[k].module for k in keys]).eval()
        return m


def time_subnets(parts: LayerParts, archs: Sequence[FamilyArch], backend: Any, protocol: Protocol, stat: str,
                 guard: Any = None, on_session: Callable[[str], None] | None = None,
                 checkpoint: FitCheckpoint | None = None) -> np.ndarray:
    """`stat` ms of every arch, timed whole by `protocol.measure` (chunk by chunk, so that only one
    chunk of stitched models is held in memory at a time). With a `checkpoint`, each chunk's
    timings are kept as it ends, and a chunk it already holds is not timed again (a resumed fit).
    A remote backend (ssh, adb) times them all in one bundle with its own copy of the protocol and
    thermal guard (`measure_models`), only those its checkpoint lacks (all of them were timed in
    the profile's own bundle when the blocks were measured in this run: `measure_plan_with_fit`)."""
    if backend.capabilities.bundled:
        kept = [checkpoint.get(a) if checkpoint is not None else None for a in archs]
        todo = [i for i, v in enumerate(kept) if v is None]
        timed: dict[int, float] = {}
        if todo:
            stats = backend.measure_models([parts.subnet(f"ctx{i}", archs[i]) for i in todo], protocol, on_session)
            timed = {i: float(stats[f"ctx{i}"][stat]) for i in todo}
            if checkpoint is not None:
                checkpoint.add([(archs[i], ms) for i, ms in timed.items()])
        if on_session is not None:
            for _ in range((len(archs) - len(todo)) * protocol.sessions):
                on_session("ctx")
        return np.array([timed[i] if v is None else v for i, v in enumerate(kept)], dtype=float)
    out = np.zeros(len(archs))
    step = protocol.chunk
    for start in range(0, len(archs), step):
        idx = range(start, min(start + step, len(archs)))
        kept = [checkpoint.get(archs[i]) for i in idx] if checkpoint is not None else [None]
        if all(v is not None for v in kept):
            for i, v in zip(idx, kept):
                out[i] = v
                for _ in range(protocol.sessions if on_session is not None else 0):
                    on_session(f"ctx{i}")  # type: ignore[misc]
            continue
        models = {f"ctx{i}": parts.subnet(f"ctx{i}", archs[i]) for i in idx}
        proto = Protocol.from_dict({**protocol.to_dict(), "seed": protocol.seed + start})
        res = measure(list(models), lambda name, ms=models: backend.open(ms[name]), proto, guard, None, on_session)
        for i in idx:
            out[i] = res[f"ctx{i}"][stat]
        if checkpoint is not None:
            checkpoint.add([(archs[i], float(out[i])) for i in idx])
    return out


# ---- onnxruntime's per-node profile ------------------------------------------------------------
def profile_attribution(onnx_model: bytes, n_layers: int, input_shape: tuple[int, ...], runs: int, threads: int,
                        warmup: int = 10) -> tuple[np.ndarray, float]:
    """Per-layer ms of a stitched model (median over `runs` profiled runs) and its whole run (median
    of `runs` unprofiled runs). Nodes are attributed by their `L<i>/` prefix. Profiling slows a run
    down (every node event is recorded), so the whole run is timed in a session without it, and
    its time outside the nodes (the runtime's per-run overhead) is shared among the layers in
    proportion to their node time."""
    from ..runtime.sessions import onnx_session

    def session(profile_to: str | None) -> Any:
        return onnx_session(onnx_model, threads, profile_to=profile_to)

    sess = session(None)
    feed = {sess.get_inputs()[0].name: np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)}
    for _ in range(warmup):
        sess.run(None, feed)
    whole = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        whole.append((time.perf_counter() - t0) * 1e3)
    with tempfile.TemporaryDirectory(prefix="ofa-ortprof-") as tmp:
        sess = session(os.path.join(tmp, "p"))
        for _ in range(warmup + runs):
            sess.run(None, feed)
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_run: list[np.ndarray] = []
    cur = np.zeros(n_layers)
    for ev in sorted((e for e in events if e.get("cat") in ("Node", "Session")), key=lambda e: e.get("ts", 0)):
        if ev["cat"] == "Node" and str(ev.get("name", "")).endswith("_kernel_time"):
            m = _LAYER.match(ev["name"])
            cur[int(m.group(1)) if m else 0] += ev["dur"] / 1e3
        elif ev["cat"] == "Session" and ev.get("name") == "model_run":
            per_run.append(cur)  # a run's event is stamped at its start: its nodes follow it
            cur = np.zeros(n_layers)
    per_run = (per_run[1:] + [cur])[warmup:]
    if not per_run:
        raise LatencyTableError("onnxruntime's profile held no runs; profile with --method fit instead")
    layers = np.median(np.array(per_run), axis=0)
    total = float(np.median(whole))
    nodes = float(layers.sum())
    if nodes > 0:  # the profiled node times add up to more than the run (recording costs): keep the shares
        layers = layers * (total / nodes)
    return layers, total


# ---- the stage --------------------------------------------------------------------------------
def fit_subnets(spec: FamilySpec, r: int, n: int, seed: int) -> list[FamilyArch]:
    """The random subnets a resolution's rows are fitted to (seeded per resolution, distinct)."""
    batch = sample_archs(spec, n, np.random.default_rng([seed, 7919, r]), resolutions=[r])
    seen: dict[FamilyArch, None] = {}
    for a in batch.to_archs():
        seen.setdefault(a, None)
    return list(seen)


def heldout_subnets(spec: FamilySpec, resolutions: Sequence[int], n: int, rng: np.random.Generator,
                    exclude: set[FamilyArch]) -> list[FamilyArch]:
    """`n` distinct random subnets drawn across `resolutions`, none of them in `exclude` (the fit's
    own subnets): what a fitted table is judged on."""
    held: list[FamilyArch] = []
    while len(held) < n:
        for a in sample_archs(spec, n, rng, resolutions=resolutions).to_archs():
            if a not in exclude and a not in held and len(held) < n:
                held.append(a)
    return held


def _scaled(row: Row, ms: float, stat: str, method: str, samples: int) -> Row:
    """`row` with its statistic `stat` set to `ms` and the others scaled alike (the spread kept)."""
    ratio = ms / row.value(stat)
    vals = {s: getattr(row, s) * ratio for s in ("mean", "median", "std", "p10", "p90")}
    return replace(row, **vals, method=method, samples=int(samples))


def incontext_rows(table: LatencyTable, r: int, net: Any, backend: Any, protocol: Protocol, method: str = "fit",
                   subnets: int = DEFAULT_SUBNETS, lam: float = DEFAULT_LAMBDA, seed: int = 0, guard: Any = None,
                   on_session: Callable[[str], None] | None = None,
                   checkpoint: FitCheckpoint | None = None, int8: Any = None) -> tuple[list[Row], dict[str, Any]]:
    """The rows of resolution `r` re-made by `method` (`fit` or `profiler`) from `subnets` whole
    subnets, and a record of the fit. The table's rows at `r` are the prior (isolated). `checkpoint`
    (fit): the subnet timings kept so far, and where new ones are kept (`time_subnets`)."""
    if method not in METHODS[1:]:
        raise LatencyTableError(f"in-context method must be one of {list(METHODS[1:])}, not {method!r}")
    spec, stat = table.spec, table.stat
    keys = resolution_keys(spec, r).distinct()
    prior_rows = [table.get(k, r) for k in keys]
    prior = np.array([row.value(stat) for row in prior_rows])
    archs = fit_subnets(spec, r, subnets, seed)
    counts = count_matrix(spec, archs, keys)
    if method == "profiler" and backend.info().get("runtime") != "onnxruntime":
        raise LatencyTableError("--method profiler reads onnxruntime's per-node profile; this device runs "
                                f"{backend.info().get('runtime')}: use --method fit")
    parts = LayerParts(net, spec, r, backend.needs_onnx, int8)
    record: dict[str, Any] = {"resolution": r, "subnets": len(archs)}
    if method == "fit":
        measured = time_subnets(parts, archs, backend, protocol, stat, guard, on_session, checkpoint)
        res = ridge_fit(counts, measured, prior, lam)
        costs, samples = res.costs, res.samples
        record.update(lam=lam, scale=res.scale, residual_mape=res.residual_mape)
    else:
        index = {k: j for j, k in enumerate(keys)}
        per_key: list[list[float]] = [[] for _ in keys]
        runs = max(protocol.min_runs, min(protocol.max_runs, 100))
        for i, arch in enumerate(archs):
            layer_keys = arch_keys(spec, arch)
            m = parts.subnet(f"ctx{i}", arch)
            ms, _ = profile_attribution(m.onnx_bytes, len(layer_keys), m.input_shape, runs,
                                        int(backend.info().get("threads") or 1), protocol.warmup)
            for key, v in zip(layer_keys, ms):
                per_key[index[key]].append(float(v))
            if on_session is not None:
                on_session(m.name)
        costs = np.array([np.median(v) if v else p for v, p in zip(per_key, prior)])
        samples = np.array([len(v) for v in per_key])
    rows = [_scaled(row, float(c), stat, method, int(s)) if s > 0 else row
            for row, c, s in zip(prior_rows, costs, samples)]
    record["rows_fitted"] = int(np.count_nonzero(samples))
    return rows, record


def choose_method(backend: Any, method: str | None) -> str:
    """The method a profile uses: `method` if given, else the default, fit, on every device. On
    remote devices (ssh, adb) the fit's whole subnets are timed in the blocks' own bundle and run
    (`measure_plan_with_fit`), fewer of them (`default_subnets`); the per-node `profiler` needs a
    local onnxruntime."""
    remote = backend.capabilities.bundled
    int8_tflite = backend.precision == "int8" and not backend.needs_onnx  # an int8 fit quantises stitched ONNX
    if method is None:
        return "isolated" if int8_tflite else DEFAULT_METHOD  # a .tflite device times int8 blocks alone
    if method != "isolated" and int8_tflite:
        raise LatencyTableError("an int8 in-context fit times ONNX subnets only (onnxruntime, locally or over "
                                "ssh); profile this device with --method isolated")
    if method == "profiler" and remote:
        raise LatencyTableError("--method profiler reads onnxruntime's per-node profile on this machine; remote "
                                "devices (ssh, adb) are profiled with --method isolated or fit")
    if method == "profiler" and backend.info().get("runtime") != "onnxruntime":
        raise LatencyTableError("--method profiler reads onnxruntime's per-node profile; this device runs "
                                f"{backend.info().get('runtime')}: use --method fit")
    return method


def default_subnets(method: str, backend: Any = None) -> int:
    """Whole subnets per resolution: the fit needs many more equations than rows; a profile gives
    every row of a subnet at once, so a tenth of that covers every row several times. On a remote
    device the fit times `DEFAULT_REMOTE_SUBNETS`: there, timing whole subnets is what a profile's
    time goes to (each costs about as much as 17 of the ~96 blocks of a resolution), and the ridge
    toward the isolated rows needs few of them to remove most of the blocks' common bias; 4 keeps
    the profile within 2x the isolated one's time with the fit's MAPE under half the isolated
    one's (median of `benchmarks/bench_remote.py --mode fit` draws; figures in its closing note)."""
    if method == "profiler":
        return DEFAULT_SUBNETS // 10
    if backend is not None and backend.capabilities.bundled:
        return DEFAULT_REMOTE_SUBNETS
    return DEFAULT_SUBNETS


_VOLATILE = ("temp_c", "temp_reason", "note")  # what a remote device reports differently on every connection


@dataclass(frozen=True)
class FitRequest:
    """The in-context fit a profile will make (`run_incontext`), handed to the block stage so that a
    remote device times the fit's whole subnets in the blocks' bundle and run."""

    subnets: int = DEFAULT_SUBNETS
    seed: int = 0


def fit_checkpoint(folder: str | os.PathLike, r: int, subnets: int, seed: int, stat: str, protocol: Protocol,
                   backend_info: dict[str, Any], spec: FamilySpec) -> FitCheckpoint:
    """The fit's kept timings of resolution `r` (`fitlog`), identified by what they depend on (not
    by a remote device's temperature at connection time, which differs from one run to the next)."""
    backend = {k: v for k, v in backend_info.items() if k not in _VOLATILE}
    return FitCheckpoint(folder, r, {"method": "fit", "subnets": subnets, "seed": seed, "stat": stat,
                                     "protocol": protocol.to_dict(), "backend": backend,
                                     "space": spec.to_dict()})


def bundled_fit_sessions(plan: Any, backend: Any, fit: FitRequest | None, protocol: Protocol) -> int:
    """Progress-bar sessions the fit adds to a remote profile's block stage (`measure_plan_with_fit`)."""
    if fit is None or not backend.capabilities.bundled:
        return 0
    return len(plan.todo) * fit.subnets * protocol.sessions


def measure_plan_with_fit(plan: Any, spec: FamilySpec, net: Any, backend: Any, protocol: Protocol, writer: Any,
                          fit: FitRequest, on_session: Callable[[str], None] | None = None,
                          on_resolution: Callable[[int, str], None] | None = None) -> int:
    """A remote profile's one bundle and one run: the plan's missing blocks and, for each of its
    resolutions, the fit's whole subnets (stitched from the same block exports), timed by the
    device after the blocks of their resolution with the same protocol and guard. Block rows go
    to `writer`; each subnet's time to the fit's checkpoint as its chunk ends, where
    `run_incontext` then finds them all (it sends nothing more). Returns the rows written."""
    stat = str(plan.metadata.get("stat") or "median")
    blocks: list[Any] = []
    extra: list[Any] = []
    owner: dict[str, tuple[FitCheckpoint, FamilyArch]] = {}
    for r, keys in plan.todo.items():
        parts = LayerParts(net, spec, r, backend.needs_onnx)
        blocks += parts.blocks(keys)
        checkpoint = fit_checkpoint(plan.folder, r, fit.subnets, fit.seed, stat, protocol, backend.info(), spec)
        for i, arch in enumerate(fit_subnets(spec, r, fit.subnets, fit.seed)):
            if checkpoint.get(arch) is None:
                m = parts.subnet(f"ctx{i}", arch)
                extra.append(m)
                owner[m.name] = (checkpoint, arch)

    def on_extra(name: str, stats: dict[str, float]) -> None:
        checkpoint, arch = owner[name]
        checkpoint.add([(arch, float(stats[stat]))])

    return backend.measure_plan(plan, spec, net, protocol, writer, on_session, on_resolution,
                                blocks=blocks, extra=extra, on_extra=on_extra)


def check_method(folder: str | os.PathLike, method: str, fresh: bool = False) -> None:
    """Before a profile: refuse to continue a table whose rows another in-context method made (one
    table, one method), and, with `fresh`, drop the isolated rows an earlier profile kept."""
    if method not in METHODS:
        raise LatencyTableError(f"profile method must be one of {list(METHODS)}, not {method!r}")
    folder = Path(folder)
    if not folder.is_dir():
        return  # nothing there yet (or not a folder: the profile's own checks say so)
    if fresh:
        (folder / ISOLATED_FILE).unlink(missing_ok=True)
        for partial in folder.glob(".fit-r*.partial.jsonl"):  # the fit's kept timings (`fitlog`)
            partial.unlink(missing_ok=True)
        return
    if not (folder / TABLE_FILE).is_file():
        return
    made = {row.method for row in read_rows(folder / TABLE_FILE, torn="skip")} - {"isolated"}
    if made and made != {method}:
        raise LatencyTableError(f"{folder} holds rows made by --method {', '.join(sorted(made))}; continue it with "
                                f"that method, or add --fresh to re-profile it with --method {method}")


def stage_sessions(table: LatencyTable, method: str, subnets: int, protocol: Protocol) -> int:
    """Progress-bar total of `run_incontext`: sessions (fit) or profiled subnets (profiler)."""
    if method == "isolated":
        return 0
    return len(pending_resolutions(table)) * subnets * (protocol.sessions if method == "fit" else 1)


def pending_resolutions(table: LatencyTable) -> list[int]:
    """Complete resolutions whose rows are all still `isolated`, or were made in context but lack
    their record in `meta.yaml` (what the in-context stage has to do)."""
    recorded = {str(k) for k in ((table.metadata.get("incontext") or {}).get("resolutions") or {})}
    done = {row.resolution for row in table.rows if row.method != "isolated" and str(row.resolution) in recorded}
    return [r for r in table.complete_resolutions() if r not in done]


def run_incontext(folder: str | os.PathLike, net: Any, backend: Any, protocol: Protocol, method: str = DEFAULT_METHOD,
                  subnets: int = DEFAULT_SUBNETS, lam: float = DEFAULT_LAMBDA, seed: int = 0, guard: Any = None,
                  on_session: Callable[[str], None] | None = None,
                  on_resolution: Callable[[int, str], None] | None = None, int8: Any = None) -> int:
    """Re-make the rows of every pending resolution of the table in `folder` in context (its whole
    subnets quantised to int8 with `int8`, an `latency.int8.Int8Calibration`); returns
    the number of resolutions done. Each resolution is written as soon as it is done (table.csv
    atomically, the isolated rows appended to isolated.csv first), so an interruption keeps them."""
    if method == "isolated":
        return 0
    folder = Path(folder)
    done = 0
    with writer_lock(folder, "latency table"):
        table = LatencyTable.load(folder)
        for r in pending_resolutions(table):
            if on_resolution is not None:
                on_resolution(r, f"in context ({method})")
            table = _isolated_prior(folder, table, r)
            t0 = time.perf_counter()
            checkpoint = (fit_checkpoint(folder, r, subnets, seed, table.stat, protocol, backend.info(), table.spec)
                          if method == "fit" else None)
            rows, record = incontext_rows(table, r, net, backend, protocol, method, subnets, lam, seed, guard,
                                          on_session, checkpoint, int8)
            record["seconds"] = round(time.perf_counter() - t0, 1)
            _keep_isolated(folder, [row for row in table.rows if row.resolution == r])
            new = {(row.resolution, row.key): row for row in table.rows}
            new.update({(row.resolution, row.key): row for row in rows})
            table = LatencyTable(table.spec, list(new.values()), table.metadata)
            meta = table.metadata
            log = dict(meta.get("incontext") or {})
            log.update(method=method, seed=seed, date=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
            log.setdefault("resolutions", {})[str(int(r))] = record  # str: as YAML gives it back
            how = {"fit": "fitted to", "profiler": "attributed from onnxruntime's per-node profiles of"}[method]
            source = str(table.metadata.get("source", "measured")).split("; then ")[0]
            table.metadata.update(incontext=log, method=method, date_updated=log["date"],
                                  source=f"{source}; then {how} {subnets} random whole subnets per resolution, "
                                         "timed end to end (the blocks timed alone are in isolated.csv)")
            # The record first, then the rows: a kill between the two leaves this resolution's rows
            # isolated, so the rerun fits it again (from the kept timings) and rewrites both; never rows
            # made in context without their record (`pending_resolutions`).
            write_metadata(folder, table.metadata)
            atomic_write_text(folder / TABLE_FILE, rows_csv(table.rows))
            if checkpoint is not None:
                checkpoint.discard()
            done += 1
    return done


def _isolated_prior(folder: Path, table: LatencyTable, r: int) -> LatencyTable:
    """`table` with resolution `r`'s rows as timed alone (from `isolated.csv`) when they were made in
    context without a record in `meta.yaml` (a kill between the two writes of an older version):
    the fit's prior is always the isolated rows."""
    if all(row.method == "isolated" for row in table.rows if row.resolution == r):
        return table
    iso = {(row.resolution, row.key): row for row in read_rows(folder / ISOLATED_FILE, torn="skip")
           if row.resolution == r}
    rows = [iso.get((row.resolution, row.key), row) if row.resolution == r else row for row in table.rows]
    return LatencyTable(table.spec, rows, table.metadata)


def _keep_isolated(folder: Path, rows: list[Row]) -> None:
    """Add `rows` (as timed alone) to `isolated.csv`, replacing earlier copies of the same rows."""
    path = folder / ISOLATED_FILE
    old: dict[tuple[int, str], Row] = {}
    if path.exists():
        old = {(row.resolution, row.key): row for row in read_rows(path, torn="cut")}  # under the table's lock
    old.update({(row.resolution, row.key): row for row in rows})
    atomic_write_text(path, rows_csv(sorted(old.values(), key=lambda x: (x.resolution, x.key))))


__all__ = ["DEFAULT_METHOD", "DEFAULT_REMOTE_SUBNETS", "DEFAULT_SUBNETS", "ISOLATED_FILE", "FitRequest", "LayerParts",
           "bundled_fit_sessions", "check_method", "fit_checkpoint", "fit_subnets", "incontext_rows",
           "measure_plan_with_fit", "pending_resolutions", "profile_attribution", "run_incontext", "stage_sessions",
           "stitch_onnx", "time_subnets"]
