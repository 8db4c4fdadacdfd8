"""`ofa-deploy report`: a thin wrapper over `ofa_deploy.report` (the page is built there)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..views import report as view
from . import options as opt
from .options import Opt


def report(
    files: list[Path] | None = typer.Argument(None, help="Exported .onnx/.tflite files to show (default: every export "
                                              "of the subnet, from the records)."),
    subnet: Path | None = Opt(None, "--subnet", help="Subnet file written by `ofa-deploy search` (default: the last "
                              "search's)."),
    table: Path | None = opt.table("Latency table folder (default: the one the subnet was searched with)."),
    out: Path | None = opt.out("HTML file to write (default: reports/<subnet name>.html in the user data folder, "
                               "$OFA_DEPLOY_HOME or ~/.local/share/ofa-deploy)."),
    force: opt.ReplaceOut = False,
    as_json: opt.Json = False,
) -> None:
    """One self-contained HTML page of the last flow: device and table, search, subnet, exports, benchmarks.

    No network is needed to view it (inline CSS and SVG plots): open it from disk or mail it.
    """
    from ..report import write_report

    view.written(*write_report(out, subnet=subnet, table=table, files=list(files or []), force=force), as_json)
