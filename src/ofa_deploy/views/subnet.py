"""What `ofa-deploy subnet show|convert` print."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from .console import console, print_json, rich_table


def shown(file: Path, sub: Any, as_json: bool, out: Console = console) -> None:
    """`subnet show`: the subnet's `space.summary.subnet_summary` (its JSON document), else its stages
    as a table, the totals and the metadata."""
    from ..space.summary import subnet_summary

    info = subnet_summary(sub)
    if as_json:
        print_json(info)
        return
    right = ("stage", "width", "depth", "stride", "params (M)", "MACs (M)")
    t = rich_table(f"{file}  [dim]({info['format']})[/]", ("stage", "width", "depth", "kernels", "expands", "stride",
                   "SE", "act", "params (M)", "MACs (M)"), right=right)
    for st in info["stages"]:
        t.add_row(str(st["stage"]), str(st["width"]), str(st["depth"]), " ".join(map(str, st["kernels"])),
                  " ".join(map(str, st["expands"])), str(st["stride"]), "yes" if st["se"] else "",
                  st["act"], f"{st['params'] / 1e6:.3f}", f"{st['macs'] / 1e6:.1f}")
    fixed_params = info["params"] - sum(st["params"] for st in info["stages"])
    fixed_macs = info["macs"] - sum(st["macs"] for st in info["stages"])
    t.add_row("rest", "", "", "", "", "", "", "", f"{fixed_params / 1e6:.3f}", f"{fixed_macs / 1e6:.1f}",
              style="dim")
    out.print(t)
    rest = info.get("rest", "first conv, first block, final expand, feature mix and classifier")
    out.print(f"[dim]rest: {rest}[/]")
    out.print(f"space       {sub.spec.describe()}")
    out.print(f"resolution  {info['resolution']} px")
    out.print(f"params      {info['params'] / 1e6:.2f} M ({info['params']:,})")
    out.print(f"MACs        {info['macs'] / 1e6:.1f} M  [dim](conv + linear, official convention)[/]")
    for k, v in info["meta"].items():
        out.print(f"{k:<11} {_readable(v)}", highlight=False)


def _readable(v: object, nested: bool = False) -> str:
    """Metadata as a person reads it: `key: value, ...` for mappings (nested ones in parentheses),
    4 significant digits."""
    if isinstance(v, dict):
        text = ", ".join(f"{k}: {_readable(x, True)}" for k, x in v.items() if x not in (None, {}, []))
        return f"({text})" if nested else text
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_readable(x, True) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def converted(sub: Any, fmt: str, out_path: Path | None, as_json: bool, out: Console = console) -> None:
    """`subnet convert`: the converted document on stdout when no file was written, else the file's
    name; with --json, {format, path, document}."""
    from ..space import dump_subnet
    from ..space.formats import subnet_document

    if as_json:
        print_json({"format": fmt, "path": str(out_path) if out_path is not None else None,
                    "document": subnet_document(sub, fmt)})
    elif out_path is None:
        sys.stdout.write(dump_subnet(sub, fmt))
        sys.stdout.flush()
    else:
        out.print(f"wrote {out_path}")
