"""Training report: per phase, test top-1 of the largest, a middle and the smallest subnet; and,
when from-scratch baselines were trained (`--from-scratch`), the paper's comparison side by side.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import FormatError
from ..fsio import atomic_write_text
from ..space.genes import gene_space
from .progressive import phase_table
from .progressive import read_log as read_log_file
from .recipe import SCRATCH_SUBNETS, Recipe


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    return read_log_file(Path(run_dir) / "log.jsonl")


def epochs_of(log: list[dict[str, Any]], phase: str | None = None) -> list[dict[str, Any]]:
    """The log's epoch records (of one phase, when given)."""
    return [r for r in log if r.get("event") == "epoch" and (phase is None or r.get("phase") == phase)]


def wall_seconds(log: list[dict[str, Any]]) -> float:
    """Wall-clock time the log covers, less each pause between an interruption and its `--resume`."""
    times = [datetime.fromisoformat(r["time"]) for r in log]
    return sum((b - a).total_seconds() for a, b, rec in zip(times, times[1:], log[1:])
               if rec.get("event") != "resume")


def scratch_results(run_dir: Path) -> dict[str, Any]:
    """{subnet: largest|middle|smallest, top1, minutes, epochs} of a `--from-scratch` run folder."""
    rows = phase_table(Path(run_dir) / "log.jsonl")
    if len(rows) != 1 or not rows[0]["phase"].startswith("scratch-"):
        raise FormatError(f"{run_dir} is not a finished `ofa-deploy train --from-scratch` run (give the --out "
                          "folder of one that ran to its end)")
    which = rows[0]["phase"].removeprefix("scratch-")
    epochs = epochs_of(read_log(run_dir))
    return {"subnet": which, "top1": rows[0][which], "minutes": sum(e.get("seconds") or 0.0 for e in epochs) / 60,
            "epochs": len(epochs)}


def skipped_of(log: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Unreadable images skipped over the whole run (`skip_bad_images`): each process logs its running
    count, so the run's total is the sum of each process's last count (a `resume` starts a new one)."""
    total, current, examples = 0, 0, []
    for rec in log:
        if rec.get("event") == "resume":
            total, current = total + current, 0
        sk = rec.get("skipped_images")
        if isinstance(sk, dict):
            current = max(current, int(sk.get("count", 0)))
            examples += [e for e in sk.get("examples", []) if e not in examples][: max(0, 5 - len(examples))]
    total += current
    return {"count": total, "examples": examples} if total else None


def bn_of(log: list[dict[str, Any]], recipe: Recipe) -> dict[str, Any]:
    """The BN recalibration the phase results were measured with (logged with each phase's end; a log
    written before that was recorded: the recipe's image count, the dataset's defaults unknown)."""
    for rec in reversed(log):
        if rec.get("event") == "phase_end" and isinstance(rec.get("bn"), dict):
            return rec["bn"]
    return {"images": recipe.bn_images, "batch": recipe.bn_batch, "transform": recipe.bn_transform}


def _bn_text(bn: dict[str, Any]) -> str:
    images = f"{bn['images']:,}" if isinstance(bn.get("images"), int) else "?"
    which = {"val": "held-out", "train": "training"}.get(bn.get("split"), "calibration")
    how = [f"{bn['transform']} transform" if bn.get("transform") else "", f"batches of {bn['batch']}" if bn.get("batch")
           else ""]
    how = [h for h in how if h]
    return f"{images} {which} images" + (f" ({', '.join(how)})" if how else "")


def write_report(out: Path, recipe: Recipe, scratch_dirs: list[Path] | None = None) -> Path:
    rows = phase_table(out / "log.jsonl")
    log = read_log(out)
    bn = bn_of(log, recipe)
    seconds = sum(e.get("seconds") or 0.0 for e in epochs_of(log))
    wall = wall_seconds(log)
    final = rows[-1] if rows else {}
    scratch = [scratch_results(d) for d in scratch_dirs or []]
    first = recipe.phases[0]
    spec = recipe.space
    if (scratch and rows and "largest" not in {s["subnet"] for s in scratch}
            and all(first.choices[dim] == [max(values)] for dim, values in gene_space(spec).phase_dims().items())):
        # The first phase *is* the largest subnet trained alone with that budget (`from_scratch`
        # gives exactly that recipe), so its result is the largest's baseline.
        scratch.append({"subnet": "largest", "top1": rows[0]["largest"], "epochs": len(epochs_of(log, first.name)),
                        "minutes": None, "note": f"the {first.name!r} phase of this run"})
    scratch.sort(key=lambda s: SCRATCH_SUBNETS.index(s["subnet"]))
    atomic_write_text(out / "report.json", json.dumps({"recipe": recipe.name, "phases": rows, "final": final,
                                                 "train_seconds": round(seconds, 1),
                                                 "wall_seconds": round(wall, 1), "bn_calibration": bn,
                                                 "from_scratch": scratch,
                                                 "skipped_images": skipped_of(log)},
                                                indent=2) + "\n")
    r = recipe.space.resolutions[-1]
    lines = [f"# Training report: {recipe.name}", "",
             (f"Space: {recipe.space.describe()}. Training time: {seconds / 60:.1f} min the sum of epochs, "
              f"{wall / 60:.1f} min wall clock with the phase evaluations (less any pause "
              "before a `--resume`)."),
             f"Test top-1 (%) after BN recalibration (upstream statistics) on {_bn_text(bn)}, at {r} px;",
             "largest / middle / smallest among the choices trained so far in each phase.", "",
             "| phase | epochs | largest | middle | smallest |", "|---|---|---|---|---|"]
    epochs = {p.name: p.epochs for p in recipe.phases}
    for row in rows:
        lines.append(f"| {row['phase']} | {epochs.get(row['phase'], 0):g} | {row.get('largest', 0):.2f} | "
                     f"{row.get('middle', 0):.2f} | {row.get('smallest', 0):.2f} |")
    if scratch:
        lines += ["", "## OFA-extracted vs trained from scratch", "",
                  (f"Each baseline is that one subnet trained alone with the full network's budget and settings "
                   f"(`--from-scratch`: {first.epochs:g} epochs, lr {first.lr:g} cosine, same augmentation and "
                   "random resolution, no distillation). Same BN recalibration, same test images."), "",
                  "| subnet | OFA-extracted | from scratch | OFA - scratch | scratch training |",
                  "|---|---|---|---|---|"]
        for s in scratch:
            ofa = final.get(s["subnet"])
            diff = f"{ofa - s['top1']:+.2f}" if ofa is not None else "-"
            how = s.get("note") or f"{s['minutes']:.1f} min"
            lines.append(f"| {s['subnet']} | {ofa:.2f} | {s['top1']:.2f} | {diff} | {s['epochs']} epochs, {how} |")
    skipped = skipped_of(log)
    if skipped:
        lines += ["", (f"Skipped {skipped['count']} unreadable image read(s) (`skip_bad_images`), e.g. "
                       f"{', '.join(skipped['examples'][:3])}.")]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
