"""`cli/` holds no decisions (issue #24 item 5), read from the source with `ast`: no function of
`cli/` runs more than 40 lines, the commands do not reach past the library functions into the
steps they orchestrate, and the package's size only goes down on the way to its target of 1,000
lines.

A function's length here is its body after the docstring: a command's signature is its option
declarations (Typer's), which stay in `cli/` whatever their number (`profile` takes 24 options).
"""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[1] / "src" / "ofa_deploy" / "cli"
MAX_BODY = 40
TARGET_LINES = 1000  # issue #24's target for the whole package (`wc -l src/ofa_deploy/cli/*.py`)
REACHED_LINES = 999  # from 2,080: the printing moved to `views`, the steps to the library; may only go down
# The steps the library's orchestrators run (devices.profiling, devices.validating, devices.imported,
# subnet_convert, space.summary, train.session (train and finetune), latency.options, benchmark_run): a command that
# imports one of them is deciding again what the library decides.
ORCHESTRATED = {
    ("devices.local", "make_backend"), ("devices", "load_device"), ("latency.profiler", "plan_profile"),
    ("latency.profiler", "run_profile"), ("latency", "incontext"), ("fsio", "writer_lock"),
    ("latency.resolve", "save_calibration"), ("latency.resolve", "save_validation_record"),
    ("latency.table", "store_metadata"), ("latency", "import_official"), ("devices.descriptor", "table_only_descriptor"),
    ("space.formats", "save_run_config"), ("space", "save_subnet"), ("train.progressive", "Trainer"),
    ("train.recipe", "load_recipe"), ("train.recipe", "from_scratch"), ("train.report", "scratch_results"),
    ("train.report", "write_report"), ("latency.protocol", "Protocol"), ("space", "cost_model"),
    ("space", "ArchBatch"), ("nn", "OFASupernet"), ("nn", "load_supernet"),
    ("train.finetune", "FineTuner"), ("train.finetune", "plan_job"), ("train.finetune", "complete"),
    ("train.finetune", "default_out"), ("train.finetune_report", "scratch_runs"),
    ("train.progressive", "init_distributed"), ("flow", "benchmark_inputs"), ("flow", "remote_options"),
    ("devices.benchmark", "benchmark"), ("devices.benchmark", "check_model_file"),
}
# What draws output: `views`' job (the library functions that print); cli calls them.
PRINTING = {"print", "print_json", "add_row", "add_column", "rich_table", "progress_bar", "status"}


def _files() -> list[Path]:
    return sorted(CLI.glob("*.py"))


def body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the function's last line."""
    body = fn.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return fn.end_lineno - body[0].lineno + 1


def _functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_cli_function_runs_over_40_lines():
    long = {f"{p.name}:{fn.lineno} {fn.name}": body_lines(fn) for p in _files() for fn in _functions(p)
            if body_lines(fn) > MAX_BODY}
    assert not long, f"cli functions over {MAX_BODY} lines (move the logic into the library): {long}"


def test_the_length_check_sees_a_long_function():
    fn = ast.parse("def f(\n    a=1,\n):\n    '''doc'''\n" + "    x = 1\n" * 41).body[0]
    assert body_lines(fn) == 41
    fn = ast.parse("def g():\n    '''doc\n    more'''\n    return 1\n").body[0]
    assert body_lines(fn) == 1


def _lines() -> int:
    return sum(len(p.read_text().splitlines()) for p in _files())


def test_cli_size_only_goes_down():
    assert _lines() <= REACHED_LINES, f"cli/ has {_lines()} lines, more than the {REACHED_LINES} reached"


def test_cli_is_at_most_1000_lines():
    assert _lines() <= TARGET_LINES


def test_commands_call_the_library_not_its_steps():
    found = set()
    for p in _files():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = (node.module or "").lstrip(".")
                found |= {f"{p.name}: {module}.{a.name}" for a in node.names if (module, a.name) in ORCHESTRATED}
    assert not found, f"cli imports steps the library orchestrates: {sorted(found)}"


def test_commands_print_through_views():
    """No cli module imports rich or draws output itself (a console's print, a table, a progress bar):
    what a command prints is a `views` function (the one exception: `--version`'s `typer.echo`)."""
    found = set()
    for p in _files():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found |= {f"{p.name}: import {n}" for n in names if n.split(".")[0] == "rich"}
            if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                if name in PRINTING:
                    found.add(f"{p.name}:{node.lineno} {name}(...)")
    assert not found, f"cli draws output itself (move it to a views function): {sorted(found)}"

