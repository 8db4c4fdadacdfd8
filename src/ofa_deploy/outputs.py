"""What an output path holds, and the `--out` check: never clobber another kind of file.

Why a module of its own, above `space`: recognising a file means knowing every writer's format
(a latency table's `meta.yaml`, a dataset's `meta.json`, a predictor's header array, a subnet
file, which is recognised by reading it with `space.load_subnet`). `fsio`, below every package,
keeps the write chores only (atomic writes, locks, a full disk); this module sits above `space`,
so recognising a subnet closes no import cycle.

The registry (`OUTPUTS`) holds one `OutputKind` per kind of output: its key (what a writer passes
to `check_output`), how messages name it, whether it is a folder, and how it is recognised. A
new writer registers its kind with `register_output` (placed among the recognisers in the order
they are tried); every kind is registered here, in one place, so that `identify` knows them all
whichever commands' modules are imported (a writer module cannot register itself at import
without this module importing it back).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError
from .fsio import LOCK_NAME, ensure_writable

# The export report beside every exported file (`export.report`); named here, where output kinds
# are recognised, so that `flow` finds a file's report without importing `export`.
REPORT_SUFFIX = ".report.json"
REPORT_FORMAT = "ofa-deploy-export-report"
# The array that marks an `.npz` as a predictor file (`predictor.model`), for the same reason.
PREDICTOR_HEADER = "__header__"
HTML_REPORT_MARK = b"<!-- ofa-deploy deployment report -->"
TABLE_FORMAT = "ofa-deploy-latency-table"
DATASET_FORMAT = "ofa-deploy-accuracy-dataset"


def report_path(model_path: str | os.PathLike) -> Path:
    """`<file>.report.json` beside an exported file."""
    p = Path(model_path)
    return p.with_name(p.name + REPORT_SUFFIX)


@dataclass(frozen=True)
class OutputKind:
    """One kind of output. `recognise(path)` returns this kind's key (or the key of a kind it
    recognises instead, e.g. a `.npz` that is not a predictor) or None to let the next one try.
    `written`: a command writes it (`check_output` accepts it); others are only recognised."""

    key: str
    text: str
    folder: bool
    recognise: Callable[[Path], str | None] | None = None
    written: bool = True


OUTPUTS: dict[str, OutputKind] = {}
Recogniser = Callable[[Path], "str | None"]
_FILE_ORDER: list[tuple[str, Recogniser]] = []     # recognisers of files, in the order they are tried
_FOLDER_ORDER: list[tuple[str, Recogniser]] = []   # recognisers of folders


def register_output(kind: OutputKind, before: str | None = None) -> OutputKind:
    """Add a kind (its recogniser tried before that of `before`, else last)."""
    if kind.key in OUTPUTS and OUTPUTS[kind.key] != kind:
        raise ValueError(f"output kind {kind.key!r} is already registered")
    OUTPUTS[kind.key] = kind
    if kind.recognise is not None:
        order = _FOLDER_ORDER if kind.folder else _FILE_ORDER
        keys = [k for k, _ in order]
        if kind.key not in keys:
            order.insert(keys.index(before) if before in keys else len(order), (kind.key, kind.recognise))
    return kind


# ---- recognisers ------------------------------------------------------------------------------------
def _head(p: Path, n: int) -> bytes:
    try:
        with open(p, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _json_format(p: Path) -> str | None:
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return doc.get("format") if isinstance(doc, dict) else None


def _yaml_format(p: Path) -> str | None:
    import yaml

    try:
        doc = yaml.safe_load(p.read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return doc.get("format") if isinstance(doc, dict) else None


def _names(p: Path) -> set[str]:
    return {c.name for c in p.iterdir() if not (c.name.startswith(".") and c.name.endswith(LOCK_NAME))}


def _table(p: Path) -> str | None:
    return "table" if "meta.yaml" in _names(p) and _yaml_format(p / "meta.yaml") == TABLE_FORMAT else None


def _dataset(p: Path) -> str | None:
    return "dataset" if "meta.json" in _names(p) and _json_format(p / "meta.json") == DATASET_FORMAT else None


def _run(p: Path) -> str | None:
    return "run" if {"state.pt", "log.jsonl"} & _names(p) else None


def _sweep(p: Path) -> str | None:
    names = _names(p)
    return "sweep" if "pareto.png" in names or any(n.startswith("subnet_") and n.endswith(".json") for n in names) \
        else None


def _official_tables(p: Path) -> str | None:
    return "official-tables" if all(n.endswith("_lookup_table.yaml") for n in _names(p)) else None


def _npz(p: Path) -> str | None:
    if p.suffix.lower() != ".npz":
        return None
    try:
        with zipfile.ZipFile(p) as z:
            return "predictor" if f"{PREDICTOR_HEADER}.npy" in z.namelist() else "npz"
    except (OSError, zipfile.BadZipFile):
        return "npz"


def _report(p: Path) -> str | None:
    if not p.name.lower().endswith(REPORT_SUFFIX):
        return None
    return "report" if _json_format(p) == REPORT_FORMAT else "file"


def _html_report(p: Path) -> str | None:
    return "html-report" if p.suffix.lower() in (".html", ".htm") and HTML_REPORT_MARK in _head(p, 256) else None


def _model(p: Path) -> str | None:
    suffix, head = p.suffix.lower(), _head(p, 64)
    if suffix == ".tflite" and head[4:8] == b"TFL3":
        return "model"
    if suffix == ".onnx" and head[:1] == b"\x08":  # ModelProto field 1 (ir_version), a varint
        return "model"
    return None


def _checkpoint(p: Path) -> str | None:
    return "checkpoint" if p.suffix.lower() in (".pt", ".pth", ".tar") else None


def _subnet(p: Path) -> str | None:
    if p.suffix.lower() not in (".json", ".yaml", ".yml", ".config"):
        return None
    from .errors import OfaDeployError
    from .space import load_subnet

    try:
        load_subnet(p)
    except (OfaDeployError, OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return "subnet"


# Folders first (the order they are tried), then files; each entry names the writer.
for _kind in (
    OutputKind("table", "latency table folder", True, _table),                          # latency.profiler, lut import
    OutputKind("dataset", "accuracy dataset folder", True, _dataset),                   # predictor.dataset
    OutputKind("run", "training run folder", True, _run),                               # train.progressive
    OutputKind("sweep", "search output folder", True, _sweep),                          # search.output
    OutputKind("official-tables", "folder of official lookup tables (<r>_lookup_table.yaml)", True,
               _official_tables),                                                       # lut export
    OutputKind("predictor", "predictor file (.npz)", False, _npz),                      # predictor.model
    OutputKind("report", "export report", False, _report),                              # export.report
    OutputKind("html-report", "HTML deployment report", False, _html_report),          # report
    OutputKind("model", "exported model", False, _model),                               # export.pipeline
    OutputKind("checkpoint", "supernet checkpoint", False, _checkpoint, written=False),  # train (its run folder)
    OutputKind("subnet", "subnet file", False, _subnet),                                # search.output, subnet convert
    OutputKind("npz", "NumPy archive that is not a predictor", False, written=False),
    OutputKind("table-part", "part of a latency table", False, written=False),
    OutputKind("dataset-part", "part of an accuracy dataset", False, written=False),
    OutputKind("run-part", "part of a training run", False, written=False),
    OutputKind("file", "file ofa-deploy does not recognise", False, written=False),
    OutputKind("folder", "folder", True, written=False),
    OutputKind("empty", "empty folder", True, written=False),
):
    register_output(_kind)

# The files of a folder kind: recognised as a part of it.
_PARTS = {"table": ("table.csv", "meta.yaml"), "dataset": ("rows.csv", "meta.json"),
          "run": ("state.pt", "log.jsonl", "supernet.pt", "report.md", "report.json")}
KINDS = {k: o.text for k, o in OUTPUTS.items() if o.written}  # what commands write, as said in messages
FOLDER_KINDS = frozenset(k for k, o in OUTPUTS.items() if o.written and o.folder)


# ---- identify and check ---------------------------------------------------------------------------
def identify(path: str | os.PathLike) -> str | None:
    """What `path` holds, by content and name: a key of `OUTPUTS`, None when it does not exist."""
    p = Path(path)
    if not p.exists():
        return None
    if p.is_dir():
        return _identify_folder(p)
    parent = _identify_folder(p.parent) if p.parent.is_dir() else None
    if parent in _PARTS and p.name in _PARTS[parent]:
        return f"{parent}-part"
    for _, recognise in _FILE_ORDER:
        found = recognise(p)
        if found is not None:
            return found
    return "file"


def _identify_folder(p: Path) -> str:
    try:
        names = _names(p)
    except OSError:
        return "folder"
    if not names:
        return "empty"
    for _, recognise in _FOLDER_ORDER:
        found = recognise(p)
        if found is not None:
            return found
    return "folder"


def describe(kind: str | None) -> str:
    if kind is None:
        return "nothing"
    text = OUTPUTS[kind].text
    return ("an " if text[0] in "aeiou" else "a ") + text


def check_output(path: str | os.PathLike, kind: str, force: bool = False) -> Path:
    """Refuse (`OutputError`) an output that would replace something of another kind, or that
    cannot be written; returns `path`. `kind` is a key of `KINDS`: folder kinds accept a new,
    empty or same-kind folder (or one of unknown content: their files get their own checks);
    file kinds a new file or one of the same kind. `force` accepts another kind, never a folder
    for a file (or the reverse)."""
    p = Path(path)
    want = KINDS[kind]
    found = identify(p)
    if kind in FOLDER_KINDS:
        if found is not None and not p.is_dir():
            raise OutputError(f"{p} is {describe(found)}, not a folder; give a folder for the {want}")
        if found not in (None, kind, "empty", "folder") and not force:
            raise OutputError(f"{p} is {describe(found)}, not {describe(kind)}; refusing to write into it: "
                              "give another --out, or add --force")
        ensure_writable(p)
        return p
    if p.is_dir():
        raise OutputError(f"{p} is a folder; give a file name for the {want}")
    if found not in (None, kind) and not force:
        raise OutputError(f"{p} is {describe(found)}, not {describe(kind)}; refusing to overwrite it: give "
                          "another --out, or add --force to replace it")
    ensure_writable(p.parent)
    return p


__all__ = ["FOLDER_KINDS", "KINDS", "OUTPUTS", "PREDICTOR_HEADER", "REPORT_FORMAT", "REPORT_SUFFIX", "OutputKind",
           "check_output", "describe", "identify", "register_output", "report_path"]
