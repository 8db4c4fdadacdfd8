"""The `ofa-deploy` command line: a Typer app; one module per command group registers itself.

Command modules import heavy libraries (torch, onnxruntime) inside their functions only, so that
`ofa-deploy search` and `ofa-deploy lut` start fast. Errors: see `common` (Typer's usage errors,
exit 2; the library's typed errors, one red line, exit 2).
"""

from __future__ import annotations

import typer

from ..views.console import version_text
from . import export_cmd, finetune_cmd, latency_cmd, report_cmd, search_cmd, subnet_cmd, train_cmd
from .common import OfaGroup

app = typer.Typer(
    name="ofa-deploy",
    cls=OfaGroup,
    help="Turn one trained Once-for-All supernet into hardware-specialised networks.\n\n"
         "The flow: `ofa-deploy profile --device D` (time blocks on the target -> latency table), "
         "`ofa-deploy search --latency 22ms` (evolutionary search), `ofa-deploy export --format tflite` "
         "(chosen subnet -> verified file), `ofa-deploy benchmark`. Each step reads what the one "
         "before recorded.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _show_version(show: bool) -> None:
    if show:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Turn one trained Once-for-All supernet into hardware-specialised networks."""


for _module in (subnet_cmd, latency_cmd, search_cmd, export_cmd, train_cmd, finetune_cmd, report_cmd):
    _module.register(app)


def main() -> None:
    from .common import tidy_help

    tidy_help(typer.main.get_command(app))(prog_name="ofa-deploy")
