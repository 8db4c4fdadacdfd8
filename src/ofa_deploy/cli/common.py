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


def _width(stream: Any) -> int | None:
    """Rich's width, except when the output is piped or logged: rich would then draw tables 80
    columns wide and clip their headers (`predi…`); wide enough for any of our tables instead
    (`$COLUMNS` still wins)."""
    import os

    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return None if tty or os.environ.get("COLUMNS") else 200


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))


def error_line(message: str) -> None:
    """The message as written (rich markup escaped: `pip install 'ofa-deploy[tflite]'` keeps `[tflite]`)."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One red line on stderr, then exit with `code` (2: bad input)."""
    error_line(message)
    raise typer.Exit(code)


def note(message: str) -> None:
    """One dim line on stderr: a default taken from an earlier step, said once."""
    from rich.markup import escape

    err_console.print(f"[dim]{escape(message)}[/]", highlight=False, soft_wrap=True)


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
        except OSError as e:  # a full disk met by a writer outside fsio: the same one line (`fsio.space_error`)
            from ..fsio import is_space_error, space_error

            if not is_space_error(e):
                raise
            error_line(str(space_error(e)))
            raise typer.Exit(2) from None
        except typer.BadParameter as e:  # usage errors stay Typer's (exit 2), in our words
            e.message = _choice_message(e.message)
            raise
        except Exception as e:
            if type(e).__name__ == "NoSuchOption" and getattr(e, "possibilities", None):
                hidden = _hidden_options(getattr(e, "ctx", None))
                e.possibilities = [p for p in e.possibilities if p not in hidden]
            raise


def _choice_message(message: str) -> str:
    """`Value error, 'pdf' is not one of 'onnx', 'tflite'.` -> `'pdf' is not one of: onnx, tflite`."""
    import re

    m = re.fullmatch(r"(?:Value error, )?(.+?) is not one of (.+?)\.?", message.strip())
    if not m:
        return message
    choices = ", ".join(c.strip().strip("'") for c in m.group(2).split(","))
    return f"{m.group(1)} is not one of: {choices}"


def _hidden_options(ctx: Any) -> set[str]:
    """The names of a command's hidden options (old names kept for a release): never suggested."""
    params = getattr(getattr(ctx, "command", None), "params", None) or []
    return {o for p in params if getattr(p, "hidden", False) for o in (*p.opts, *getattr(p, "secondary_opts", []))}


def tidy_help(command: Any) -> Any:
    """Flags show no type in the help (Typer writes `--version <bool>`): an empty metavar, recursively."""
    for p in getattr(command, "params", []):
        if getattr(p, "is_flag", False) and p.metavar is None:
            p.metavar = ""
    original = command.get_help_option

    def help_option(ctx: Any) -> Any:  # --help is made on demand, per command
        opt = original(ctx)
        if opt is not None and opt.metavar is None:
            opt.metavar = ""
        return opt

    command.get_help_option = help_option
    for sub in (getattr(command, "commands", None) or {}).values():
        tidy_help(sub)
    return command


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


def epoch_progress(out: Console, key: Any) -> tuple[Any, Any]:
    """The training progress bar and the `on_step(info)` callback that draws it: one task per epoch
    (`key(info)` names it: the epoch, or the phase and epoch), with the running loss."""
    progress = progress_bar("loss {task.fields[loss]:.3f}", out=out)
    tasks: dict[Any, int] = {}

    def on_step(info: dict) -> None:
        k = key(info)
        if k not in tasks:
            tasks[k] = progress.add_task(f"{info['phase']} epoch {info['epoch'] + 1}/{info['epochs']}",
                                         total=info["steps"], loss=0.0)
        progress.update(tasks[k], completed=info["step"], loss=info["loss"])

    return progress, on_step


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
