"""Shared fixtures: where ../shared is, and skips with a clear reason when it is absent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Test output is captured, never a terminal: tables are laid out as for a pipe (`cli/common.py`), whatever
# the terminal. A pytest process that imports readline exports COLUMNS=80 and LINES=24 into its C environment
# (readline's default), which pytest-xdist's workers then inherit: dropped here, before anything reads them.
for _var in ("COLUMNS", "LINES"):
    os.environ.pop(_var, None)

# Shared names live in tests/support; re-exported for tests that still take them from here.
from support.shared import GOLDEN, REFERENCE, REPO, SHARED, need_shared  # noqa: F401


@pytest.fixture(scope="session")
def golden_cases() -> list[dict]:
    return json.loads(need_shared(GOLDEN / "cases.json").read_text())["cases"]


@pytest.fixture(scope="session")
def golden_io():
    import torch

    return torch.load(need_shared(GOLDEN / "cases.pt"), map_location="cpu", weights_only=False)


@pytest.fixture(scope="session")
def specialized_dir() -> Path:
    return need_shared(REFERENCE / "ofa" / "ofa_specialized")


@pytest.fixture(scope="session", autouse=True)
def _user_data_folder(tmp_path_factory):
    """The records (`last_*.json`) and searches that commands write go to a folder of the test
    session, never to the user's own data folder (tests that chain commands set their own)."""
    old = os.environ.get("OFA_DEPLOY_HOME")
    os.environ["OFA_DEPLOY_HOME"] = str(tmp_path_factory.mktemp("ofa-deploy-home"))
    yield
    if old is None:
        os.environ.pop("OFA_DEPLOY_HOME", None)
    else:
        os.environ["OFA_DEPLOY_HOME"] = old


@pytest.fixture(scope="session", autouse=True)
def _block_exports_once(tmp_path_factory):
    """Each distinct block is exported to ONNX once a run, for all xdist workers (`support/onnx_memo.py`
    says why and how)."""
    from support.onnx_memo import remember_block_exports
    from support.xdist_once import run_root

    with remember_block_exports(run_root(tmp_path_factory) / "onnx-block-exports") as store:
        yield store


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `ofa-deploy ARGS...` in-process; returns (exit code, stdout, stderr)."""
    import sys

    from ofa_deploy.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["ofa-deploy", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


# ---- profiling tests (local, SSH, adb) share one small demo-like space and its network ----------
from support.spaces import PROFILE_SPEC


@pytest.fixture(scope="module")
def net():
    """Random-weight supernet of PROFILE_SPEC, eval mode (what profiling exports blocks from)."""
    import torch

    from ofa_deploy.nn import OFAMobileNetV3

    torch.manual_seed(0)
    torch.set_num_threads(1)
    return OFAMobileNetV3(PROFILE_SPEC).eval()


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """Block-model cache shared by every remote test of the run, all xdist workers included (a .tflite
    conversion takes ~1.4 s a block): the adb design-card loop and the emulated board convert the same demo
    blocks, and two workers converting at once split them (`devices.bundle.cached_conversion`)."""
    from support.xdist_once import run_root

    return run_root(tmp_path_factory) / "ofa-blocks-cache"


@pytest.fixture(scope="session")
def _profiled_once(tmp_path_factory):
    """The table of `profiled`, measured once a run by the real command (each test gets a copy; one
    profile for all xdist workers: `support/xdist_once.py`)."""
    import sys

    from support.xdist_once import once_per_run

    from ofa_deploy.cli import main

    def make(base: Path) -> None:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OFA_DEPLOY_HOME", str(base / "home"))
            mp.setenv("OFA_DEPLOY_TABLES", str(base / "tables"))
            mp.chdir(base)
            mp.setattr(sys, "argv", ["ofa-deploy", "profile", "--device", "cpu", "--resolutions", "24", "--sessions",
                                     "1", "--max-runs", "3", "--subnets", "12"])
            try:
                main()
            except SystemExit as e:
                assert not e.code, f"the profile behind the `profiled` fixture failed (exit {e.code}; see its stderr)"

    return once_per_run(tmp_path_factory, "profiled-once", make)


@pytest.fixture
def profiled(_profiled_once, tmp_path, monkeypatch):
    """A tiny cpu table (r 24, 1 session, 3 runs, fitted to 12 whole subnets) as `ofa-deploy profile` left it
    under a temporary OFA_DEPLOY_HOME: the session's one profile copied into tmp_path (tables/ and the
    home's last_profile record, naming the copy), run from tmp_path; returns the table folder recorded."""
    import shutil

    home = tmp_path / "home"
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(home))
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))
    monkeypatch.chdir(tmp_path)
    shutil.copytree(_profiled_once / "tables", tmp_path / "tables")
    record = json.loads((_profiled_once / "home" / "records" / "last_profile.json").read_text())
    record["table"] = str(tmp_path / "tables" / Path(record["table"]).relative_to(_profiled_once / "tables"))
    (home / "records").mkdir(parents=True)
    (home / "records" / "last_profile.json").write_text(json.dumps(record, indent=2) + "\n")
    return record["table"]


@pytest.fixture(scope="session")
def _isolated_once(tmp_path_factory):
    """A table of isolated rows only (`profile --method isolated`, r 24, 1 session, 3 runs), measured once a run
    (one profile for all xdist workers: `support/xdist_once.py`)."""
    import sys

    from support.xdist_once import once_per_run

    from ofa_deploy.cli import main

    def make(base: Path) -> None:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OFA_DEPLOY_HOME", str(base / "home"))
            mp.setattr(sys, "argv", ["ofa-deploy", "profile", "--resolutions", "24", "--sessions", "1", "--max-runs",
                                     "3", "--method", "isolated", "-o", str(base / "t")])
            try:
                main()
            except SystemExit as e:
                assert not e.code, f"the profile behind the `isolated_table` fixture failed (exit {e.code})"

    return once_per_run(tmp_path_factory, "isolated-once", make) / "t"


@pytest.fixture
def table_copy(_isolated_once, _profiled_once):
    """`table_copy(method, dest)`: a copy at `dest` of the session's one table of that method, as `ofa-deploy
    profile --resolutions 24 --sessions 1 --max-runs 3` left it with `--method isolated` ("isolated") or
    `--subnets 12` ("fit"), for tests whose subject is what comes after the profile, not the profile."""
    import shutil

    def copy(method: str, dest: Path) -> Path:
        # Both session tables are made at setup (made during the test's call, their output would land in
        # the test's captured stdout, where `cli` reads it).
        if method == "isolated":
            src = _isolated_once
        else:
            assert method == "fit", method
            record = json.loads((_profiled_once / "home" / "records" / "last_profile.json").read_text())
            src = Path(record["table"])
        shutil.copytree(src, dest)
        return Path(dest)

    return copy


@pytest.hookimpl(trylast=True)  # after `-m` has deselected: the order is that of the lane that runs
def pytest_collection_modifyitems(config, items):
    """The longest files first, so that xdist (`--no-loadscope-reorder`) starts them at once: `support/schedule.py`."""
    from support.schedule import longest_first

    items[:] = longest_first(items)
