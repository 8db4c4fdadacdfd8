"""The product as it ships: the wheel built from this checkout, installed with its dependencies into a
fresh virtual environment outside the checkout, and run the way a user runs it (from an empty folder,
with a fresh HOME, no OFA_DEPLOY_* variables, no PYTHONPATH).

Why: every other test imports the package from `src/`, where the repository's own folders (devices/,
latency_tables/) sit beside it; only an installed wheel shows what a user really gets - a resource left
out of the wheel, or a command writing into site-packages, passes everywhere else.

Once per interpreter: this environment's base Python, and Debian's own `/usr/bin/python3` when it is
another one and can make virtual environments. Each CLI step is its own test; a step runs the steps it
needs first (once per interpreter), so any one test can be run alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"  # the torch pin, as scripts/setup.sh installs it
DEBIAN_PYTHON = Path("/usr/bin/python3")
# Not part of what ships: copying them into the build folder would only cost time.
_NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "venv", "runs", "out", "build", "dist", "*.egg-info",
                                      "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache")
# Profiling options that make the step fast: one resolution, one session, few runs per entry, and the
# default in-context fit over 12 whole subnets instead of 150 (the same code path; the test checks the chain).
PROFILE = ("profile", "--device", "cpu", "--resolutions", "32", "--sessions", "1", "--max-runs", "5",
           "--subnets", "12")
BUDGET = "10ms"  # generous: the fresh table is uncalibrated; the test checks the chain, not the search
# The user's pipeline, in order: each step reads the record the one before it left.
PIPELINE = {"profile": PROFILE, "search": ("search", "--latency", BUDGET), "export": ("export", "--format", "onnx")}


def _base_python() -> Path:
    """The interpreter this environment (a venv or not) was made from."""
    return Path(getattr(sys, "_base_executable", None) or sys.executable)


def _run(cmd: list, *, timeout: float = 900, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False, **kw)


def _user_env(home: Path, venv: Path) -> dict[str, str]:
    """A user's shell: the venv's bin on PATH, a fresh HOME, none of this session's Python or ofa-deploy
    settings (PYTHONDONTWRITEBYTECODE dropped too, as a user's shell has it)."""
    drop = ("PYTHON", "OFA_DEPLOY_", "XDG_", "VIRTUAL_ENV", "PIP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               VIRTUAL_ENV=str(venv), OMP_NUM_THREADS="1")
    return env


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` but Python's own bytecode cache (the venv is installed with `--no-compile`,
    so the interpreter writes `__pycache__/*.pyc` as modules are first imported; that is Python's doing,
    not the product's)."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in folder.rglob("*") if (p.is_file() or p.is_symlink()) and p.parent.name != "__pycache__"}


def _fail_text(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stderr ---\n{proc.stderr[-4000:]}\n--- stdout ---\n{proc.stdout[-2000:]}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout, built from a copy (an in-tree build would write build/ and egg-info)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    shutil.copytree(REPO, src, ignore=_NOT_SOURCES, symlinks=True)
    t0 = time.perf_counter()
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
                 "-w", root / "dist", src])
    assert proc.returncode == 0, f"pip wheel failed: {_fail_text(proc)}"
    (whl,) = (root / "dist").glob("ofa_deploy-*.whl")
    print(f"\nwheel {whl.name} built in {time.perf_counter() - t0:.1f} s")
    return whl


class Product:
    """One fresh install of the wheel and a user's session with it; steps run once, in order."""

    def __init__(self, root: Path, python: Path, wheel: Path):
        self.venv, self.home, self.cwd = root / "venv", root / "home", root / "work"
        self.home.mkdir()
        self.cwd.mkdir()
        self.wheel = wheel
        self.version = wheel.name.split("-")[1]
        self.env = _user_env(self.home, self.venv)
        proc = _run([python, "-m", "venv", self.venv])
        if proc.returncode != 0:
            pytest.skip(f"{python} cannot make a virtual environment (apt-get install python3-venv): "
                        f"{proc.stderr.strip()[-300:]}")
        t0 = time.perf_counter()
        # pip itself keeps the real HOME (its cache and index configuration); only the user's commands
        # get the fresh one. `--no-compile`: byte-compiling all of torch at install was 30 of the install's
        # 53 s (measured); the commands below then compile only the modules they import, on first import.
        pip_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
        proc = _run([self.venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
                     "--no-compile", "-c", CONSTRAINTS, wheel], env=pip_env)
        assert proc.returncode == 0, f"pip install of {wheel.name} failed: {_fail_text(proc)}"
        self.install_seconds = time.perf_counter() - t0
        print(f"\n{wheel.name} installed with its dependencies into a fresh venv of {python} "
              f"in {self.install_seconds:.1f} s")
        (self.site,) = (self.venv / "lib").glob("python3*/site-packages")
        self.before = _snapshot(self.site)
        self.results: dict[str, subprocess.CompletedProcess] = {}

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return _run([self.venv / "bin" / "ofa-deploy", *args], cwd=self.cwd, env=self.env, timeout=timeout)

    def step(self, name: str) -> subprocess.CompletedProcess:
        """Run pipeline step `name` (after the steps before it), once."""
        for prior in list(PIPELINE)[: list(PIPELINE).index(name)]:
            self.step(prior)
        if name not in self.results:
            self.results[name] = self.run(*PIPELINE[name])
        return self.results[name]


@pytest.fixture(scope="module", params=["base-python", "debian-python3"])
def product(request, wheel, tmp_path_factory) -> Product:
    python = _base_python() if request.param == "base-python" else DEBIAN_PYTHON
    if request.param == "debian-python3":
        if not python.exists():
            pytest.skip(f"{python} is absent (not a Debian/Ubuntu system Python)")
        if python.resolve() == _base_python().resolve():
            pytest.skip(f"{python} is this environment's base Python: covered by base-python")
    version = _run([python, "-c", "import sys; print(sys.version_info >= (3, 10))"])
    if version.stdout.strip() != "True":
        pytest.skip(f"{python} is older than Python 3.10, which ofa-deploy needs")
    return Product(tmp_path_factory.mktemp("product"), python, wheel)


def test_version_prints_the_wheels_version(product):
    proc = product.run("--version")
    assert proc.returncode == 0, f"`ofa-deploy --version`: {_fail_text(proc)}"
    assert product.version in proc.stdout, f"`ofa-deploy --version` printed {proc.stdout!r}, not {product.version}"


def test_unknown_command_is_a_usage_error(product):
    proc = product.run("nosuch")
    assert proc.returncode == 2, f"`ofa-deploy nosuch` should exit 2: {_fail_text(proc)}"
    assert "Traceback" not in proc.stderr + proc.stdout, f"`ofa-deploy nosuch` printed a traceback: {_fail_text(proc)}"


def test_profile_cpu_writes_the_table_into_the_user_data_folder(product):
    proc = product.step("profile")
    assert proc.returncode == 0, f"`ofa-deploy {' '.join(PROFILE)}`: {_fail_text(proc)}"
    data = product.home / ".local" / "share" / "ofa-deploy"
    tables = sorted(data.rglob("table.csv")) if data.exists() else []
    assert tables, (f"no table.csv under {data} after profiling; files under HOME: "
                    f"{sorted(str(p.relative_to(product.home)) for p in product.home.rglob('*') if p.is_file())}; "
                    f"under the work folder: {sorted(p.name for p in product.cwd.rglob('*'))}")


def test_search_without_device_uses_the_last_profile(product):
    proc = product.step("search")
    assert proc.returncode == 0, f"`ofa-deploy search --latency {BUDGET}` (after profile): {_fail_text(proc)}"


def test_export_onnx_exports_the_last_search(product):
    proc = product.step("export")
    assert proc.returncode == 0, f"`ofa-deploy export --format onnx` (after search): {_fail_text(proc)}"
    written = [p for where in (product.home, product.cwd) for p in where.rglob("*.onnx")]
    assert written, f"no .onnx file under HOME or the work folder: {_fail_text(proc)}"


def test_nothing_is_written_into_site_packages(product):
    for name in PIPELINE:
        product.step(name)
    product.run("--version")
    after = _snapshot(product.site)
    added = sorted(set(after) - set(product.before))
    changed = sorted(k for k in set(after) & set(product.before) if after[k] != product.before[k])
    removed = sorted(set(product.before) - set(after))
    assert not (added or changed or removed), (f"the commands wrote into {product.site}: added {added[:20]}, "
                                               f"changed {changed[:20]}, removed {removed[:20]}")
