"""Time an exported file on a device, next to what the device's latency table predicts for it.

The timing is the shared protocol of profiling (`latency.protocol.measure`: warm-up, fresh
sessions, a stable median), so a measured whole model and a table's block sum are comparable.
`.onnx` files run in onnxruntime, `.tflite` files in the LiteRT interpreter (`devices.local`'s
backends, over `runtime.sessions`). On an ssh device the file is sent as a one-model bundle to the
remote runner (the runtime of its suffix there: the LiteRT interpreter or onnxruntime), on an adb
phone it is pushed and timed with `benchmark_model` (.tflite only): the backends' `measure_models`,
the same bundle, protocol and thermal guard as profiling and `search --verify`. Here, in `devices`, and not in `export`: it reads latency
tables and devices, which `export` (below them) must not import. The arch comes from the export
report beside the file; the table was measured with one runtime and precision, which the result
states next to the prediction.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import checks
from ..errors import DeviceError, ExportError, LatencyTableError, OfaDeployError
from ..export.report import load_report
from ..latency import profile_command
from ..latency.protocol import Protocol, measure
from ..runtime.models import open_model
from ..space import spec_from_dict
from ..space.formats import arch_of_space, read_structured
from .descriptor import load_device
from .local import LiteRTBackend, make_backend


@dataclass(frozen=True)
class ModelFile:
    """An exported file in the form backends' `open(model)` takes (batch 1 input shape)."""

    path: Path
    input_shape: tuple[int, ...]
    module: None = None
    onnx_bytes: None = None

    @property
    def onnx_path(self) -> str | None:
        return str(self.path) if self.path.suffix == ".onnx" else None

    @property
    def tflite_path(self) -> str | None:
        return str(self.path) if self.path.suffix == ".tflite" else None


def model_file(path: str | os.PathLike) -> ModelFile:
    """The file opened once to read its input shape; a file the runtime cannot parse (damaged,
    not a model at all) fails here with one line, and the runtime's own C++ log lines are kept
    off the terminal."""
    from ..runtime.quiet import captured_output

    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give an exported .onnx or .tflite file")
    try:
        with captured_output():
            model = open_model(path)
            shape = tuple(1 if d is None else int(d) for d in model.input.shape)
    except OfaDeployError:
        raise
    except Exception as e:  # noqa: BLE001 (whatever onnxruntime / LiteRT raise on bytes they cannot parse)
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ExportError(f"{path}: not a readable {path.suffix} model ({why}); give a file written by "
                          "`ofa-deploy export`") from None
    return ModelFile(path, shape)


def backend_for(path: str | os.PathLike, device: Any, threads: int | None = None, **remote: Any) -> Any:
    """The backend that runs this file type on `device` (a `DeviceDescriptor`); `remote`: the
    ssh / adb connection options of `make_backend` (host, serial, benchmark_binary...)."""
    suffix = Path(path).suffix
    if device.connection == "adb" and suffix != ".tflite":
        raise DeviceError(f"device {device.name!r} is timed with TFLite's benchmark_model, which runs .tflite files: "
                          "export with --format tflite")
    if device.connection in ("ssh", "adb"):
        runtime = "onnxruntime" if suffix == ".onnx" else "tflite"
        return make_backend(device, runtime, threads, **remote)
    if suffix == ".onnx":
        runtime = device.runtime if device.runtime.startswith("onnxruntime") else "onnxruntime"
        return make_backend(device, runtime, threads)
    return LiteRTBackend(device.threads if threads is None else checks.threads(threads))


def _measure_remote(backend: Any, path: Path, model: ModelFile, protocol: Protocol,
                    on_session: Callable[[str], None] | None) -> dict[str, float]:
    """The file as a one-model bundle on an ssh / adb device (`measure_models`). adb's
    benchmark_model reports session means only: its p10 / p90 are None (unknown)."""
    import math

    from ..latency.block_models import BlockModel

    fmt = path.suffix[1:]
    m = BlockModel(path.name, int(model.input_shape[-1]), tuple(model.input_shape), **{f"{fmt}_path": str(path)})
    stats = backend.measure_models([m], protocol, on_session)[path.name]
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in stats.items()}


def check_model_file(path: str | os.PathLike) -> Path:
    """An exported file benchmark can time; a typed error saying what to give otherwise."""
    p = Path(path)
    if p.suffix not in (".onnx", ".tflite"):
        raise ExportError(f"{p}: benchmark times .onnx or .tflite files")
    if not p.is_file():
        raise ExportError(f"{p}: no such file")
    return p


def search_budget_ms(report: dict[str, Any] | None) -> float | None:
    """The latency budget the file's subnet was searched under (from the subnet file), if any."""
    if report is None:
        return None
    try:
        data = read_structured(report["subnet"]["path"])
        return float(data["meta"]["search"]["budget"]["latency_ms"])
    except (OfaDeployError, KeyError, TypeError, ValueError):
        return None


def predicted_ms(device: str, report: dict[str, Any] | None,
                 table_dir: str | os.PathLike | None = None) -> tuple[float | None, dict[str, Any]]:
    """The table's prediction for the report's arch, or None and a note saying why there is none.
    `table_dir`: that table folder (the one the search used) instead of the device's. An int8 file
    is predicted by the device's int8 table when there is one (else by its fp32 table, and
    `benchmark` notes the mismatch)."""
    from ..latency.resolve import resolve_table

    if report is None:
        return None, {"note": "no export report beside the file, so its subnet is unknown: measured only"}
    spec = spec_from_dict(report["subnet"]["space"])
    arch = arch_of_space(spec, report["subnet"]["arch"])
    try:
        found = None
        if report.get("precision") == "int8":
            try:
                found = resolve_table(device, table_dir, spec, "int8")
            except LatencyTableError:
                found = None  # no int8 table: the fp32 one predicts, with a note
        found = found or resolve_table(device, table_dir, spec)
        table, info = found.table, found.info()
    except LatencyTableError:
        return None, {"note": f"no prediction: device {device!r} has no latency table for this subnet's space "
                              f"({spec.describe()}); measure one with "
                              f"`{profile_command(device, spec, [arch.r])}`"}
    try:
        ms = table.predict_arch(arch)
    except LatencyTableError as e:
        return None, {"note": f"no prediction: {e}"}
    md = table.metadata
    info = {**info, "runtime": md.get("runtime"), "precision": md.get("precision"), "threads": md.get("threads")}
    return ms, info


def benchmark(path: str | os.PathLike, device: str = "cpu", threads: int | None = None,
              protocol: Protocol | None = None, on_session: Callable[[str], None] | None = None,
              table_dir: str | os.PathLike | None = None, **remote: Any) -> dict[str, Any]:
    """Measured latency of the file (ms statistics) and the predicted one, with their provenance.
    `remote`: connection options of ssh / adb devices (`make_backend`'s host, serial...)."""
    threads = checks.threads(threads)
    path = check_model_file(path)
    desc = load_device(device)
    backend = backend_for(path, desc, threads, **remote)  # a file type the device cannot run: refused first
    model = model_file(path)
    report = load_report(path)  # before timing: a report of another file is refused at once
    protocol = protocol or Protocol()
    if hasattr(backend, "measure_models"):
        stats = _measure_remote(backend, path, model, protocol, on_session)
    else:
        stats = measure([path.name], lambda _: backend.open(model), protocol, on_session=on_session)[path.name]
    predicted, prediction = predicted_ms(desc.name, report, table_dir)
    info = backend.info()
    notes = []
    if predicted is not None:
        if prediction.get("runtime") != info["runtime"]:
            notes.append(f"the table was measured with {prediction.get('runtime')}, this file runs on "
                         f"{info['runtime']}")
        precision = report["precision"] if report else "fp32"
        if prediction.get("precision") not in (None, precision):
            hint = profile_command(desc.name, spec_from_dict(report["subnet"]["space"]),
                                   [int(model.input_shape[-1])], precision) if report else None
            notes.append(f"the table is {prediction.get('precision')}, this file is {precision}"
                         + (f"; profile a table of its precision: `{hint}`" if hint and precision == "int8" else ""))
    drift = None
    if predicted is not None and prediction.get("origin") != "official":
        from ..latency import drift as drift_check
        from ..latency.table import read_metadata

        c = drift_check.check(prediction["path"], read_metadata(Path(prediction["path"])), "benchmark", path.name,
                              predicted, stats["median"])
        drift = {**c.to_dict(), "message": c.message(path.name)}
    thermal = backend.run_metadata().get("remote_thermal") if hasattr(backend, "run_metadata") else None
    result = {"file": str(path), "device": desc.name, "backend": info, "input_shape": list(model.input_shape),
              **({"thermal": thermal} if thermal else {}),
              "protocol": protocol.to_dict(), "measured_ms": stats, "predicted_ms": predicted,
              "budget_ms": search_budget_ms(report), "drift": drift,
              "prediction": prediction, "notes": notes,
              "arch": report["subnet"]["arch"] if report else None}
    from .. import records

    records.log_benchmark(result)  # every benchmark, for `ofa-deploy report` and `api.benchmarks()`
    return result
