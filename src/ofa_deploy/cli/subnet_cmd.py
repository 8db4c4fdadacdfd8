"""`ofa-deploy subnet show|convert`: read any supported subnet file, print or convert it."""

from __future__ import annotations

from pathlib import Path

import typer

from ..space import dump_subnet
from ..space.formats import subnet_document
from . import options as opt
from .choices import SubnetFormat
from .common import console, print_json, value
from .options import Opt
from .render import rich_table

subnet_app = typer.Typer(help="Inspect and convert subnet files (ours, official arch/net.config, MMRazor).",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(subnet_app, name="subnet")


@subnet_app.command("show")
def show(
    file: Path = typer.Argument(..., help="Subnet file: ours (.json/.yaml), official arch dict, net.config (or its "
                                "folder), MMRazor YAML, or a `finetune` checkpoint (.pt)."),
    resolution: opt.NetConfigResolution = None,
    as_json: opt.Json = False,
) -> None:
    """Per-stage table of kernels, expands and depth, with resolution, params and MACs."""
    from ..flow import subnet_for_show
    from ..space.summary import subnet_summary

    sub = subnet_for_show(file, resolution)
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
    console.print(t)
    rest = info.get("rest", "first conv, first block, final expand, feature mix and classifier")
    console.print(f"[dim]rest: {rest}[/]")
    console.print(f"space       {sub.spec.describe()}")
    console.print(f"resolution  {info['resolution']} px")
    console.print(f"params      {info['params'] / 1e6:.2f} M ({info['params']:,})")
    console.print(f"MACs        {info['macs'] / 1e6:.1f} M  [dim](conv + linear, official convention)[/]")
    for k, v in info["meta"].items():
        console.print(f"{k:<11} {_readable(v)}", highlight=False)


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


@subnet_app.command("convert")
def convert(
    file: Path = typer.Argument(..., help="Subnet file in any supported format."),
    to: SubnetFormat = Opt(..., "--to", help="Target format."),
    out: Path | None = opt.out("Write here (default: print to stdout)."),
    resolution: opt.NetConfigResolution = None,
    force: opt.ReplaceOut = False,
    as_json: bool = opt.json("Print {format, path, document} as JSON (the document is the converted content)."),
) -> None:
    """Convert a subnet file to another format (net-config writes the official net.config)."""
    from ..subnet_convert import convert_subnet

    fmt = value(to)
    sub = convert_subnet(file, fmt, out, resolution, force)
    if out is None:
        if as_json:
            print_json({"format": fmt, "path": None, "document": subnet_document(sub, fmt)})
        else:
            typer.echo(dump_subnet(sub, fmt), nl=False)
        return
    if as_json:
        print_json({"format": fmt, "path": str(out), "document": subnet_document(sub, fmt)})
        return
    console.print(f"wrote {out}")
