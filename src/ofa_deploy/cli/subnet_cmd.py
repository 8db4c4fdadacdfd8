"""`ofa-deploy subnet show|convert`: read any supported subnet file, print or convert it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..space import (
    ArchBatch,
    SpaceKind,
    Subnet,
    arch_costs,
    cost_model,
    dump_subnet,
    load_subnet,
    save_subnet,
)
from ..space.formats import save_run_config, subnet_document
from .choices import SubnetFormat
from .common import console, json_option, out_option, print_json, value

subnet_app = typer.Typer(help="Inspect and convert subnet files (ours, official arch/net.config, MMRazor).",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(subnet_app, name="subnet")


def subnet_summary(sub: Subnet) -> dict:
    kind = sub.spec.kind_info
    if not isinstance(kind, SpaceKind):  # a family of its own (ResNet50) reports its own stages
        params, macs = kind.arch_costs(sub.spec, sub.arch)
        return {"format": sub.source_format, "space": sub.spec.to_dict(),
                "arch": sub.arch.canonical(sub.spec).to_dict(), "resolution": sub.arch.r, "params": params,
                "macs": macs, "stages": kind.summary_stages(sub.spec, sub.arch), "meta": sub.meta,
                "rest": "input stem, max pooling and classifier"}
    params, macs = arch_costs(sub.spec, sub.arch)
    stage_params, stage_macs = (v[0] for v in cost_model(sub.spec).stage_costs(ArchBatch.from_archs([sub.arch])))
    stages = []
    for s, depth in enumerate(sub.arch.d):
        slots = range(sub.spec.slot(s, 0), sub.spec.slot(s, 0) + depth)
        stages.append({
            "stage": s + 1,
            "width": sub.spec.stage_widths[s],
            "depth": depth,
            "kernels": [sub.arch.ks[i] for i in slots],
            "expands": [sub.arch.e[i] for i in slots],
            "stride": sub.spec.stage_strides[s],
            "se": sub.spec.stage_se[s],
            "act": sub.spec.stage_acts[s],
            "params": int(stage_params[s]),
            "macs": int(stage_macs[s]),
        })
    return {
        "format": sub.source_format,
        "space": sub.spec.to_dict(),
        "arch": sub.arch.canonical(sub.spec).to_dict(),
        "resolution": sub.arch.r,
        "params": params,
        "macs": macs,
        "stages": stages,
        "meta": sub.meta,
    }


@subnet_app.command("show")
def show(
    file: Path = typer.Argument(..., help="Subnet file: ours (.json/.yaml), official arch dict, net.config "
                                          "(or its folder), MMRazor YAML, or a `finetune` checkpoint (.pt)."),
    resolution: int | None = typer.Option(None, "--resolution", "-r",
                                             help="Resolution for a net.config without run.config."),
    as_json: bool = json_option(),
) -> None:
    """Per-stage table of kernels, expands and depth, with resolution, params and MACs."""
    from ..flow import subnet_for_show

    sub = subnet_for_show(file, resolution)
    info = subnet_summary(sub)
    if as_json:
        print_json(info)
        return
    table = Table(title=f"{file}  [dim]({info['format']})[/]", title_justify="left")
    right = ("stage", "width", "depth", "stride", "params (M)", "MACs (M)")
    for col in ("stage", "width", "depth", "kernels", "expands", "stride", "SE", "act", "params (M)", "MACs (M)"):
        table.add_column(col, justify="right" if col in right else "left")
    for st in info["stages"]:
        table.add_row(str(st["stage"]), str(st["width"]), str(st["depth"]), " ".join(map(str, st["kernels"])),
                      " ".join(map(str, st["expands"])), str(st["stride"]), "yes" if st["se"] else "",
                      st["act"], f"{st['params'] / 1e6:.3f}", f"{st['macs'] / 1e6:.1f}")
    fixed_params = info["params"] - sum(st["params"] for st in info["stages"])
    fixed_macs = info["macs"] - sum(st["macs"] for st in info["stages"])
    table.add_row("rest", "", "", "", "", "", "", "", f"{fixed_params / 1e6:.3f}", f"{fixed_macs / 1e6:.1f}",
                  style="dim")
    console.print(table)
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
    to: SubnetFormat = typer.Option(..., "--to", help="Target format."),
    out: Path | None = out_option("Write here (default: print to stdout)."),
    resolution: int | None = typer.Option(None, "--resolution", "-r",
                                             help="Resolution for a net.config without run.config."),
    force: bool = typer.Option(False, "--force", help="Replace an --out file of another kind."),
    as_json: bool = json_option("Print {format, path, document} as JSON (the document is the converted content)."),
) -> None:
    """Convert a subnet file to another format (net-config writes the official net.config)."""
    from ..fsio import check_output

    fmt = value(to)
    sub = load_subnet(file, image_size=resolution)
    if out is None:
        if as_json:
            print_json({"format": fmt, "path": None, "document": subnet_document(sub, fmt)})
        else:
            typer.echo(dump_subnet(sub, fmt), nl=False)
        return
    check_output(out, "subnet", force)
    save_subnet(sub, out, fmt)
    if fmt == "net-config":
        save_run_config(out, sub.arch.r)
    if as_json:
        print_json({"format": fmt, "path": str(out), "document": subnet_document(sub, fmt)})
        return
    console.print(f"wrote {out}")
