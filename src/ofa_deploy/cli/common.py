"""Shared CLI helpers: the error boundary, one option vocabulary, strict JSON output, the rich console.

The boundary: Typer runs in its normal (standalone) mode, so usage errors (unknown command or
option, a missing value, text given to a number, a value outside a choice) are Typer's own
message and exit code 2. The library's typed errors (`OfaDeployError`) are caught in one place,
`OfaGroup.invoke`, and become one red line on stderr and exit code 2. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import enum
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from ..errors import OfaDeployError

console = Console()
err_console = Console(stderr=True)


def error_line(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One red line on stderr, then exit with `code` (2: bad input)."""
    error_line(message)
    raise typer.Exit(code)


def note(message: str) -> None:
    """One dim line on stderr: a default taken from an earlier step, said once."""
    err_console.print(f"[dim]{message}[/]", highlight=False, soft_wrap=True)


def next_step(command: str) -> None:
    """The command to run next (human output only: never printed in --json mode)."""
    console.print(f"next: [bold]{command}[/]", highlight=False, soft_wrap=True)


class OfaGroup(TyperGroup):
    """Typer's group, plus the one place where library errors become one red line and exit 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except OfaDeployError as e:
            error_line(str(e))
            raise typer.Exit(2) from None


def version_text() -> str:
    """`ofa-deploy <version>`: the installed distribution's, else the package's `__version__`."""
    from importlib import metadata

    try:
        version = metadata.version("ofa-deploy")
    except metadata.PackageNotFoundError:
        from .. import __version__ as version
    return f"ofa-deploy {version}"


def choices(name: str, values: Iterable[str]) -> type[enum.Enum]:
    """A str Enum of `values` (Typer shows and checks them): choices come from the library's tuples."""
    return enum.Enum(name, [(v.replace("-", "_"), v) for v in values], type=str)  # type: ignore[return-value]


def value(choice: Any) -> Any:
    """The plain string of an Enum choice (None stays None)."""
    return choice.value if isinstance(choice, enum.Enum) else choice


def merge_alias(new: Any, old: Any, new_name: str, old_name: str, default: Any = None) -> Any:
    """The value of an option that has an old, hidden name kept for one release (both None: `default`)."""
    if old is None:
        return default if new is None else new
    if new is not None and new != old:
        fail(f"{old_name} is the old name of {new_name}; give only {new_name}")
    note(f"{old_name} is deprecated: use {new_name}")
    return old


# ---- the vocabulary: one declaration per option name, used by every command ---------------------
def json_option(help: str = "Machine-readable output (strict JSON on stdout).") -> Any:
    return typer.Option(False, "--json", help=help)


def out_option(help: str, default: Any = None, required: bool = False) -> Any:
    return typer.Option(... if required else default, "--out", "-o", help=help)


def device_option(help: str = "Device name (devices/NAME.yaml) or descriptor path.", default: Any = None) -> Any:
    return typer.Option(default, "--device", "-d", help=help, callback=device_by_name)


def device_by_name(text: str | None) -> str | None:
    """--device: a descriptor path becomes the device's name (`devices.descriptor.device_name`)."""
    from ..devices.descriptor import device_name

    return device_name(text)


def supernet_option(help: str = "Supernet checkpoint (ours or official).") -> Any:
    return typer.Option(None, "--supernet", "-s", help=help)


def table_option(help: str = "Latency table folder (default: the device's).") -> Any:
    return typer.Option(None, "--table", "-t", help=help)


def samples_option(default: int, help: str) -> Any:
    return typer.Option(default, "--samples", "-n", help=help)


# ---- output -------------------------------------------------------------------------------------------
def progress_bar(*fields: str, out: Console = console) -> Any:
    """The one progress-bar style: description, bar, done/total, `fields` (rich TextColumn
    templates such as "loss {task.fields[loss]:.3f}"), elapsed time and ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    *(TextColumn(f) for f in fields), TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=out, transient=False)


def plain(o: Any) -> Any:
    """JSON values only: NaN and infinities become null, numpy values lists/numbers, paths strings,
    Enums their value, dataclass-like objects their fields. Keys become strings."""
    if isinstance(o, enum.Enum):
        return plain(o.value)
    if isinstance(o, bool) or o is None or isinstance(o, str):
        return o
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, int):
        return o
    if isinstance(o, dict):
        return {str(k): plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set, frozenset)):
        return [plain(v) for v in o]
    if isinstance(o, Path) or hasattr(o, "__fspath__"):
        return str(o)
    if hasattr(o, "tolist"):  # numpy arrays and scalars
        return plain(o.tolist())
    if hasattr(o, "to_dict"):
        return plain(o.to_dict())
    if hasattr(o, "__dict__"):
        return plain(vars(o))
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def json_text(data: Any) -> str:
    """Strict JSON (RFC 8259: no NaN / Infinity tokens), indented."""
    return json.dumps(plain(data), indent=2, allow_nan=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json_text(data) + "\n")
