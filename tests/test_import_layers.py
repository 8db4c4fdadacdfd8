"""The package layering of docs/ARCHITECTURE.md, read from the source with `ast`.

Every `import` counts, also those inside functions (a lazy import is still a dependency: it only
moves the failure to run time). Nodes are the packages under `ofa_deploy` and its top-level
modules (`fsio`, `flow`, ...). Checked: the runtime layer sits below `latency` and `export`; `fsio`
below everything (writes and locks only: recognising outputs is `outputs`', above `space`); the
packages import only what the table allows; neither the package graph nor the module graph has a
cycle (no exceptions); `search` and `lut` start without torch (statically: what `ofa_deploy.cli` imports
at module level never reaches torch or a runtime; the subprocess tests in test_latency_profile and
test_predictor_official check the commands themselves).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ofa_deploy"

# What each package must not import of ofa_deploy (the layering table of docs/ARCHITECTURE.md,
# which `test_the_layering_table_is_the_documented_one` parses and compares with this; the shared
# top-level helpers `errors`, `checks`, `fsio`, `paths`, `rowfile`, `records`, `units`, `torchio`
# are allowed everywhere).
DOC = SRC.parents[1] / "docs" / "ARCHITECTURE.md"
MAY_NOT = {
    "runtime": {"latency", "export", "devices", "search", "predictor", "cli", "flow", "train", "nn", "data"},
    "latency": {"export", "devices", "search", "predictor", "cli", "flow", "train"},
    "export": {"latency", "devices", "search", "cli"},
    "devices": {"search", "predictor", "cli", "flow", "train"},
    "search": {"export", "cli", "train"},
    "space": {"nn", "latency", "export", "devices", "search", "predictor", "cli", "flow", "train", "runtime", "data",
              "outputs"},
    "nn": {"latency", "export", "devices", "search", "predictor", "cli", "flow", "train", "runtime", "data", "report",
           "api"},
    "data": {"space", "nn", "latency", "export", "devices", "search", "predictor", "cli", "flow", "train", "runtime",
             "report", "api"},
    "train": {"latency", "export", "devices", "search", "predictor", "cli", "runtime", "report", "api"},
    "predictor": {"latency", "export", "devices", "search", "cli", "flow", "runtime", "report", "api"},
    "flow": {"latency", "export", "devices", "search", "predictor", "cli", "train", "runtime", "data", "report", "api"},
    "report": {"cli", "api", "nn", "train", "search", "devices", "runtime", "data"},
    "views": {"cli", "api"},
}
def _module_name(path: Path) -> tuple[str, bool]:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    is_pkg = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_pkg else parts), is_pkg


def _imports(path: Path, toplevel_only: bool = False) -> set[str]:
    """The absolute names of what `path` imports (`from a import b` gives a and a.b)."""
    name, is_pkg = _module_name(path)
    tree = ast.parse(path.read_text())
    nodes = tree.body if toplevel_only else list(ast.walk(tree))
    if toplevel_only:  # module level, including `if`/`try` blocks, never function bodies
        stack, nodes = list(tree.body), []
        while stack:
            n = stack.pop()
            nodes.append(n)
            if isinstance(n, (ast.If, ast.Try)):
                stack += n.body + n.orelse + getattr(n, "finalbody", []) + \
                    [x for h in getattr(n, "handlers", []) for x in h.body]
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out |= {f"{target}.{a.name}" for a in node.names}
    return out


def _node(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "ofa_deploy" and len(parts) > 1 else None


def _graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], list[str]]]:
    edges: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(SRC.rglob("*.py")):
        src = _node(_module_name(path)[0])
        for target in _imports(path):
            dst = _node(target)
            if src and dst and dst != src and ((SRC / dst).is_dir() or (SRC / f"{dst}.py").is_file()):
                edges[src].add(dst)
                where[(src, dst)].append(f"{path.relative_to(SRC)}: {target}")
    return edges, where


def _cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return out


def test_the_runtime_layer_is_the_only_place_that_opens_sessions_and_interpreters():
    """onnxruntime sessions and LiteRT interpreters are opened in `runtime.sessions` only (the
    standalone remote runner excepted: it runs on the device without ofa_deploy)."""
    openers = ("InferenceSession(", "Interpreter(", "interpreter_class()(")
    found = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                   if any(o in p.read_text() for o in openers))
    assert found == ["devices/remote_runner.py", "runtime/sessions.py"]


def test_packages_import_only_what_the_architecture_allows():
    edges, where = _graph()
    bad = {(a, b): where[(a, b)] for a, banned in MAY_NOT.items() for b in edges.get(a, ()) if b in banned}
    assert not bad, f"imports against ARCHITECTURE.md's table: {bad}"
    assert edges["runtime"] <= {"errors", "fsio"}, edges["runtime"]
    assert edges["fsio"] <= {"errors"}, where  # atomic writes and locks only: it knows no package's formats


def test_views_sit_between_the_libraries_and_cli():
    """`views` (what the commands print) is imported by `cli` only, above every library it renders;
    it never imports typer, so its functions run and are tested without the command line."""
    edges, where = _graph()
    importers = {a for a, bs in edges.items() if "views" in bs}
    assert importers <= {"cli"}, {a: where[(a, "views")] for a in importers - {"cli"}}
    typer_users = sorted(str(p.relative_to(SRC)) for p in (SRC / "views").rglob("*.py")
                         if any(n.split(".")[0] == "typer" for n in _imports(p)))
    assert typer_users == []


def test_no_import_cycles_between_packages():
    edges, where = _graph()
    cycles = _cycles(edges)
    detail = {f"{a} -> {b}": where[(a, b)] for c in cycles for a in c for b in edges[a] if b in c}
    assert not cycles, f"import cycles between packages: {cycles}; edges: {detail}"


def _module_graph() -> dict[str, set[str]]:
    """Module -> the ofa_deploy modules it imports. `from a import b` imports the module `a.b` when
    there is one, and the package `a` too, unless `a` is a package the importing module lies in
    (that package is already being imported when the module runs)."""
    mods = {_module_name(p)[0]: p for p in sorted(SRC.rglob("*.py"))}
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        for target in _imports(path):
            if target in mods and target != name and not name.startswith(target + "."):
                edges[name].add(target)
    return edges


def test_no_import_cycles_between_modules():
    """No module of `src` reaches itself through imports (lazy and TYPE_CHECKING ones included): no
    exceptions. A family's modules import `space.family`'s registry, never the other way round."""
    edges = _module_graph()
    cycles = _cycles(edges)
    detail = {f"{a} -> {b}" for c in cycles for a in c for b in edges[a] if b in c}
    assert not cycles, f"import cycles between modules: {cycles}; edges: {sorted(detail)}"


def test_the_module_cycle_check_sees_a_cycle():
    """The checker itself: the edges of the cycles it once found are still seen (the lazy import of
    `space` in `outputs`, `space.formats` writing through `fsio`), and a cycle it is given is found."""
    edges = _module_graph()
    assert "ofa_deploy.space" in edges["ofa_deploy.outputs"] and "ofa_deploy.fsio" in edges["ofa_deploy.space.formats"]
    assert "ofa_deploy.space.family" in edges["ofa_deploy.space.resnet50.spec"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    with_back_edge = {k: set(v) for k, v in edges.items()}
    with_back_edge["ofa_deploy.fsio"] = {"ofa_deploy.outputs"}
    assert any({"ofa_deploy.fsio", "ofa_deploy.outputs"} <= c for c in _cycles(with_back_edge))


def _documented_layering() -> dict[str, set[str]]:
    """The rows between `<!-- layering:start -->` and `<!-- layering:end -->` of docs/ARCHITECTURE.md:
    | `package` | `a`, `b`, ... |."""
    text = DOC.read_text()
    start, end = text.index("<!-- layering:start -->"), text.index("<!-- layering:end -->")
    rows: dict[str, set[str]] = {}
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            assert cells[0].strip("`") not in rows, f"{cells[0]} has two rows in {DOC}"
            rows[cells[0].strip("`")] = {n.strip().strip("`") for n in cells[1].split(",") if n.strip()}
    return rows


def test_the_layering_table_is_the_documented_one():
    """docs/ARCHITECTURE.md's layering table and MAY_NOT say the same, row by row."""
    documented = _documented_layering()
    assert documented == MAY_NOT, {k: (documented.get(k), MAY_NOT.get(k))
                                   for k in set(documented) | set(MAY_NOT) if documented.get(k) != MAY_NOT.get(k)}


def test_the_architecture_doc_maps_every_package():
    """Every package under src/ofa_deploy has a row in the doc's module map; the README links the doc."""
    text = DOC.read_text()
    packages = sorted(p.parent.name for p in SRC.glob("*/__init__.py"))
    assert [p for p in packages if f"| `{p}` |" not in text] == []
    readme = (SRC.parents[1] / "README.md").read_text()
    assert "docs/ARCHITECTURE.md" in readme and "../shared/design/ARCHITECTURE.md" not in readme


def test_no_test_module_imports_another():
    """Shared test helpers live in tests/support; a test module never imports another test module
    (`conftest` included)."""
    tests = Path(__file__).resolve().parent
    found = set()
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found |= {(path.name, n.split(".")[0]) for n in names
                      if n.split(".")[0] == "conftest" or (tests / f"{n.split('.')[0]}.py").is_file()}
    assert found == set()


def _reaches(edges: dict[str, set[str]], a: str, b: str) -> bool:
    seen, todo = set(), [a]
    while todo:
        v = todo.pop()
        if v == b:
            return True
        if v not in seen:
            seen.add(v)
            todo += edges.get(v, ())
    return False


def test_the_cli_module_level_imports_never_reach_torch_or_a_runtime():
    """What `import ofa_deploy.cli` runs (module-level imports, followed through ofa_deploy) must
    not import torch, onnxruntime or LiteRT: `search` and `lut` start fast."""
    heavy = {"torch", "onnxruntime", "ai_edge_litert", "tflite_runtime", "litert_torch", "onnx", "sklearn"}
    seen: set[str] = set()
    todo = ["ofa_deploy.cli"]
    reached: dict[str, str] = {}
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        rel = Path(*mod.split(".")[1:])
        for path in (SRC / rel / "__init__.py", (SRC / rel).with_suffix(".py")):
            if path.is_file():
                for target in _imports(path, toplevel_only=True):
                    top = target.split(".")[0]
                    if top in heavy:
                        reached[target] = mod
                    elif top == "ofa_deploy":
                        todo.append(target)
                break
    assert not reached, f"module-level imports of heavy runtimes from the CLI: {reached}"


def test_the_layering_test_sees_imports():
    """The parser itself: relative, lazy and aliased imports all count."""
    edges, where = _graph()
    assert "latency" in edges["devices"] and "runtime" in edges["latency"] and "runtime" in edges["export"]
    assert any("runtime.convert" in w for w in where[("latency", "runtime")])  # a lazy import inside a function


def test_sessions_are_opened_with_the_deployed_settings(tmp_path):
    """One place, one set of settings: threads, one inter-op thread, a per-node profile on request."""
    import json

    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper

    from ofa_deploy.runtime.sessions import onnx_session

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    assert onnx.checker.check_model(onnx.load_from_string(model)) is None
    s = onnx_session(model, threads=1)
    x = np.array([[-1.0, 0.0, 2.0, -3.0]], dtype=np.float32)
    assert s.run(None, {"x": x})[0].tolist() == [[0.0, 0.0, 2.0, 0.0]]
    assert s.get_session_options().intra_op_num_threads == 1 and s.get_session_options().inter_op_num_threads == 1
    p = onnx_session(model, threads=1, profile_to=str(tmp_path / "prof"))
    p.run(None, {"x": x})
    events = json.loads(Path(p.end_profiling()).read_text())
    assert any(e.get("cat") == "Node" for e in events)
