"""Training report: per phase, test top-1 of the largest, a middle and the smallest subnet."""

from __future__ import annotations

import json
from pathlib import Path

from .progressive import phase_table
from .recipe import Recipe


def write_report(out: Path, recipe: Recipe) -> Path:
    rows = phase_table(out / "log.jsonl")
    seconds = 0.0
    for line in (out / "log.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("event") == "epoch":
            seconds += rec.get("seconds") or 0.0
    final = rows[-1] if rows else {}
    (out / "report.json").write_text(json.dumps({"recipe": recipe.name, "phases": rows, "final": final,
                                                 "train_seconds": round(seconds, 1)}, indent=2) + "\n")
    lines = [f"# Training report: {recipe.name}", "",
             f"Space: {recipe.space.describe()}. Training time (sum of epochs): {seconds / 60:.1f} min.",
             "Test top-1 (%) after BN recalibration on 2,000 validation images, at the largest resolution;",
             "largest / middle / smallest among the choices trained so far in each phase.", "",
             "| phase | largest | middle | smallest |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['phase']} | {r.get('largest', 0):.2f} | {r.get('middle', 0):.2f} | {r.get('smallest', 0):.2f} |")
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
