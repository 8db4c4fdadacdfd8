"""The `ofa-deploy` command line: a Typer app; one module per command group, listed here.

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


# The commands, then the groups, in the order --help lists them (the flow's order).
for _name, _command in (("profile", latency_cmd.profile), ("search", search_cmd.search), ("export", export_cmd.export),
                        ("benchmark", export_cmd.benchmark), ("train", train_cmd.train),
                        ("finetune", finetune_cmd.finetune), ("report", report_cmd.report)):
    app.command(_name)(_command)
for _name, _group in (("subnet", subnet_cmd.subnet_app), ("latency", latency_cmd.latency_app),
                      ("lut", latency_cmd.lut_app), ("predictor", search_cmd.predictor_app)):
    app.add_typer(_group, name=_name)


def main() -> None:
    from .common import tidy_help

    tidy_help(typer.main.get_command(app))(prog_name="ofa-deploy")
