"""The README's commands run as written: the official-release section (with the release files of
../shared/reference/ofa, skipped when ../shared is absent) and the Python API section."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.shared import GOLDEN, REFERENCE, need_shared

import ofa_deploy

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SRC = str(Path(ofa_deploy.__file__).resolve().parents[1])


def block(section: str, lang: str) -> str:
    """The first ```lang block under the `## section` heading."""
    start = README.index(f"## {section}")
    end = README.find("\n## ", start + 1)
    m = re.search(rf"```{lang}\n(.*?)```", README[start:end if end > 0 else None], re.DOTALL)
    assert m, f"no {lang} block in {section!r}"
    return m.group(1)


def _env(tmp: Path) -> dict[str, str]:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "ofa-deploy"  # the command as installed: this checkout's package, this python
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ofa_deploy "$@"\n')
    shim.chmod(0o755)
    return {**os.environ, "OFA_DEPLOY_HOME": str(tmp / "home"), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_official_release_section_runs_as_written(tmp_path):
    ofa = need_shared(REFERENCE / "ofa")
    golden = need_shared(GOLDEN / "supernet.pth")
    script = block("With the official OFA release", "bash")
    # The one line that names where the user put the files; everything else word for word.
    lines = script.splitlines()
    assert lines[0].startswith("OFA=")
    script = "\n".join([f"OFA={ofa}", *lines[1:]])
    # The released checkpoint is 100+ MB and not in ../shared: a randomised one of the same space stands in.
    shutil.copy(golden, tmp_path / "ofa_mbv3_d234_e346_k357_w1.2")
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=900, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    for f in ("official.npz", "note10_25ms.json", "arch.json", "arch.onnx", "arch.onnx.report.json"):
        assert (tmp_path / f).is_file(), f
    assert "4.30 M" in p.stdout  # the published Note8 subnet: official params


def test_python_api_section_runs_as_written(tmp_path):
    pytest.importorskip("pandas", reason="the API section needs pandas")
    code = block("From Python (pandas)", "python")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                       text=True, timeout=900, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "verdict: good" in p.stdout and "True" in p.stdout
    assert (tmp_path / "subnet.onnx").is_file()
