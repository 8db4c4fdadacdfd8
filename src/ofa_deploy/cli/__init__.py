"""The `ofa-deploy` command line: a Typer app; one module per command group registers itself.

Command modules import heavy libraries (torch, onnxruntime) inside their functions only, so that
`ofa-deploy search` and `ofa-deploy lut` start fast.
"""

from __future__ import annotations

import typer

from . import export_cmd, latency_cmd, search_cmd, subnet_cmd, train_cmd
from .common import run_app

app = typer.Typer(
    name="ofa-deploy",
    help="Turn one trained Once-for-All supernet into hardware-specialised networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (subnet_cmd, latency_cmd, search_cmd, export_cmd, train_cmd):
    _module.register(app)


def main() -> None:
    run_app(app)
