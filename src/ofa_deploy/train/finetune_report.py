"""The report of a `finetune` run: test top-1 of the extracted subnet (BN recalibrated) and of the
fine-tuned one (its trained BN, as exported), optional from-scratch runs beside them, time per epoch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import FormatError
from ..fsio import atomic_write_text
from .report import _bn_text, epochs_of, read_log, wall_seconds


def run_results(run_dir: Path) -> dict[str, Any]:
    """{before, after, epochs, seconds_per_epoch, train_seconds, wall_seconds, bn} of a finetune run folder."""
    log = read_log(run_dir)
    before = next((r for r in log if r.get("event") == "before"), None)
    ends = [r for r in log if r.get("event") == "phase_end"]
    if not ends:
        raise FormatError(f"{run_dir} is not a finished `ofa-deploy finetune` run (give the --out folder of one "
                          "that ran to its end)")
    epochs = epochs_of(log)
    seconds = [e.get("seconds") or 0.0 for e in epochs]
    return {"phase": ends[-1]["phase"], "before": before["test_top1"]["subnet"] if before else None,
            "after": ends[-1]["test_top1"]["subnet"], "epochs": len(epochs),
            "seconds_per_epoch": round(sum(seconds) / len(seconds), 1) if seconds else None,
            "train_seconds": round(sum(seconds), 1), "wall_seconds": round(wall_seconds(log), 1),
            "bn": before.get("bn") if before else None}


def scratch_runs(dirs: list[Path]) -> list[dict[str, Any]]:
    """{dir, top1, epochs, seconds_per_epoch} of finished `finetune --from-scratch` run folders
    (checked before a run too, so that a wrong `--compare-scratch` fails before any training)."""
    runs = []
    for d in dirs:
        s = run_results(Path(d))
        if s["phase"] != "scratch":
            raise FormatError(f"{d} is not a `ofa-deploy finetune --from-scratch` run (give the --out folder of one "
                              "that ran to its end)")
        runs.append({"dir": str(d), "top1": s["after"], "epochs": s["epochs"],
                     "seconds_per_epoch": s["seconds_per_epoch"]})
    return runs


def write_finetune_report(out: Path, info: dict[str, Any], scratch_dirs: list[Path] | None = None) -> Path:
    """`report.json` and `report.md` in `out`. `info`: recipe, subnet, supernet, name, processes, ... (as is)."""
    res = run_results(out)
    scratch = scratch_runs(scratch_dirs or [])
    doc = {**info, **res, "from_scratch_runs": scratch}
    atomic_write_text(out / "report.json", json.dumps(doc, indent=2) + "\n")
    scratch_run = res["phase"] == "scratch"
    title = "From-scratch baseline" if scratch_run else "Fine-tuning report"
    lines = [f"# {title}: {info.get('name') or info.get('subnet')}", "",
             (f"Subnet {info.get('arch')} at {info.get('resolution')} px, from {info.get('subnet')}; "
              f"supernet {info.get('supernet')}. Recipe {info.get('recipe')}: {res['epochs']} epochs, "
              f"{res['seconds_per_epoch']} s per epoch ({info.get('processes', 1)} process(es)"
              f"{f' x {t} thread(s)' if (t := info.get('threads_per_process')) else ''}), "
              f"{res['wall_seconds'] / 60:.1f} min wall clock."), ""]
    if res["before"] is not None:
        lines.append(f"Test top-1 (%): extracted with BN recalibrated on {_bn_text(res['bn'] or {})}; "
                     "fine-tuned with its own trained BN statistics (what `export` ships: no recalibration).")
    else:
        lines.append("Test top-1 (%) with the subnet's own trained BN statistics.")
    lines += ["", "| subnet | top-1 | epochs |", "|---|---|---|"]
    if res["before"] is not None:
        lines.append(f"| extracted from the supernet | {res['before']:.2f} | - |")
    label = "trained from scratch (no teacher)" if scratch_run else f"fine-tuned (KD ratio {info.get('kd_ratio')})"
    lines.append(f"| {label} | {res['after']:.2f} | {res['epochs']} |")
    for s in scratch:
        lines.append(f"| from scratch ({s['dir']}) | {s['top1']:.2f} | {s['epochs']} |")
    if res["before"] is not None and not scratch_run:
        lines += ["", f"Fine-tuned - extracted: {res['after'] - res['before']:+.2f} points."]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


__all__ = ["run_results", "scratch_runs", "write_finetune_report"]
