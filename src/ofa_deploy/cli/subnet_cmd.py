"""`ofa-deploy subnet show|convert`: read any supported subnet file, print or convert it."""

from __future__ import annotations

from pathlib import Path

import typer

from ..views import subnet as view
from . import options as opt
from .choices import SubnetFormat
from .common import value
from .options import Opt

subnet_app = typer.Typer(help="Inspect and convert subnet files (ours, official arch/net.config, MMRazor).",
                         no_args_is_help=True)


@subnet_app.command("show")
def show(
    file: Path = typer.Argument(..., help="Subnet file: ours (.json/.yaml), official arch dict, net.config (or its "
                                "folder), MMRazor YAML, or a `finetune` checkpoint (.pt)."),
    resolution: opt.NetConfigResolution = None,
    as_json: opt.Json = False,
) -> None:
    """Per-stage table of kernels, expands and depth, with resolution, params and MACs."""
    from ..flow import subnet_for_show

    view.shown(file, subnet_for_show(file, resolution), as_json)


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

    view.converted(convert_subnet(file, value(to), out, resolution, force), value(to), out, as_json)
