"""What `ofa-deploy report` prints (the page itself is `report.html`'s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from .console import console, notes, print_json


def written(path: Path, data: Any, as_json: bool, out: Console = console) -> None:
    """`report.write_report`'s page and data: its path and size, what it shows, the notes."""
    if as_json:
        print_json({"path": str(path), "size_bytes": path.stat().st_size, "subnet": data.subnet_path,
                    "table": data.table_path, "exports": [e.get("file") for e in data.exports],
                    "benchmarks": [b.get("file") for b in data.benchmarks], "notes": data.notes})
        return
    notes(data.notes)
    out.print(f"wrote {path}  [dim]({path.stat().st_size / 1e3:.0f} kB; open it in a browser)[/]",
              highlight=False, soft_wrap=True)
