"""Hostile and malformed files: nothing in them runs, and each gives one clear line and exit 2.

The corpus (`tests/hostile`) is generated into tmp_path: crafted pickles whose unpickling would
create a marker file, truncated / random / binary files, folders where files belong, and
net.configs whose channels do not chain. For every case: exit code 2, exactly one line on stderr,
no traceback, no marker, the inputs byte-identical and no output written.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hostile import CASES, MARKER, SHIPPED_SUPERNET, Payload, raw_pickle, sha256

from ofa_deploy.errors import FormatError


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file_gives_one_line_and_exit_2(name, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    case = CASES[name](tmp_path)
    before = {p: sha256(p) for p in case.inputs}
    code, out, err = cli(*case.args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("error:"), err
    assert "Traceback" not in out + err
    assert not (tmp_path / MARKER).exists(), "the file's payload ran"
    assert {p: sha256(p) for p in case.inputs} == before
    for p in case.outputs:
        assert not p.exists(), f"{p} was written"


@pytest.mark.parametrize("name", ["benchmark-random-tflite", "benchmark-random-onnx", "search-supernet-bare-pickle"])
def test_real_stderr_is_one_line(name, tmp_path):
    """Runtimes log from C++ straight to fd 2, which the in-process fixture does not see: a real process."""
    case = CASES[name](tmp_path)
    proc = subprocess.run([sys.executable, "-c", "from ofa_deploy.cli import main; main()", *map(str, case.args)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
                          env={**__import__("os").environ, "OFA_DEPLOY_HOME": str(tmp_path / "home")})
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert not (tmp_path / MARKER).exists()


def test_the_issue_repro_runs_nothing(cli, tmp_path, monkeypatch):
    """Issue #15: `predictor import e.pth` used to run the pickle before saying "wrong magic number"."""
    monkeypatch.chdir(tmp_path)
    e = raw_pickle(tmp_path / "e.pth", tmp_path / MARKER)
    code, _, err = cli("predictor", "import", e, "--out", tmp_path / "p.npz")
    assert code == 2 and not (tmp_path / MARKER).exists()
    assert "e.pth" in err and "not a readable" in err


def test_payload_is_live(tmp_path):
    """The corpus is a real threat: a plain unpickler does create the marker (so the tests can fail)."""
    import pickle

    pickle.loads(pickle.dumps(Payload(tmp_path / MARKER)))
    assert (tmp_path / MARKER).exists()


def test_netconfig_mismatch_names_the_block_and_the_expected_value(cli, tmp_path):
    case = CASES["netconfig-block-in-channels-999"](tmp_path)
    code, _, err = cli(*case.args)
    assert code == 2
    assert "blocks[3]" in err and "in_channels 999" in err and "expected" in err


def test_search_reads_our_checkpoint_space_without_torch(tmp_path):
    code = ("import sys; from ofa_deploy.space.checkpoint import checkpoint_space; from pathlib import Path; "
            f"s = checkpoint_space(Path({str(SHIPPED_SUPERNET)!r})); print(s.width_mult); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "0.5"


def test_checkpoint_without_space_record_is_read_safely(tmp_path):
    """Our files written before the record existed: the weights-only loader reads their space."""
    import torch

    from ofa_deploy.space import SpaceSpec
    from ofa_deploy.space.checkpoint import checkpoint_space

    spec = SpaceSpec(width_mult=0.5, n_classes=10, in_channels=1)
    torch.save({"format": "ofa-deploy-supernet", "spec": spec.to_dict(), "state_dict": {}}, tmp_path / "old.pt")
    assert checkpoint_space(tmp_path / "old.pt") == spec


def test_half_written_log_line_does_not_break_resume(cli, tmp_path):
    """A run killed while appending to log.jsonl: `train --resume` finishes and writes its report."""
    run = tmp_path / "run"
    code, _, err = cli("train", "--recipe", "tiny-synthetic", "-o", run, "--stop-after-epochs", "2")
    assert code == 0, err
    with open(run / "log.jsonl", "a") as f:
        f.write('{"time": "2026-01-01T00:00:00", "event": "ep')
    code, _, err = cli("train", "--recipe", "tiny-synthetic", "-o", run, "--resume")
    assert code == 0, err
    assert (run / "report.md").exists() and (run / "supernet.pt").exists()
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records].count("resume") == 1


def test_damaged_log_line_is_one_clear_error(tmp_path):
    from ofa_deploy.train.progressive import read_log

    log = tmp_path / "log.jsonl"
    log.write_text('{"event": "epoch"}\n{"event": "ep{"time": 1}\n{"event": "x"}\n{"half')
    with pytest.raises(FormatError, match="line 2"):
        read_log(log)
    log.write_text('{"event": "epoch"}\n{"half')
    assert read_log(log) == [{"event": "epoch"}]


def test_training_state_holds_only_tensors_and_plain_data(tmp_path):
    """state.pt loads with weights_only=True (a crafted one is refused like any checkpoint)."""
    import torch

    from ofa_deploy.train import load_recipe
    from ofa_deploy.train.progressive import Trainer

    Trainer(load_recipe("tiny-synthetic"), tmp_path).run(stop_after_epochs=1)
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert isinstance(state["stream"]["order"], torch.Tensor)
