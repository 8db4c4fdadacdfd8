"""One writer per output, nothing clobbered, exports atomic (issue #15, items 2-5 and the --out part of 8).

Concurrent writers are real second processes (`subprocess`) that hold a folder through the real
code path (a profile plan, a dataset builder, a training run) while this process tries the same
command: it must exit 2 with one line naming the holder's PID and leave every file as it was.
Files are compared by sha256 before and after.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.outputs import one_error_line, sha, snapshot
from support.spaces import PROFILE_SPEC
from support.tables import synthetic_table

from ofa_deploy.errors import BusyError, FormatError, LatencyTableError, OutputError
from ofa_deploy.fsio import LOCK_NAME, atomic_write_text, writer_lock
from ofa_deploy.latency import LatencyTable
from ofa_deploy.latency.protocol import Protocol
from ofa_deploy.latency.repair import repair_table
from ofa_deploy.latency.table import TABLE_FILE
from ofa_deploy.outputs import check_output, identify

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
       "OMP_NUM_THREADS": "1"}
FAST = Protocol(warmup=1, min_runs=3, max_runs=3, check_every=3, sessions=1, chunk=16)
PREDICTOR = REPO / "src" / "ofa_deploy" / "_data" / "predictors" / "demo.npz"


# ---- helpers ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def holder(code: str, *args: str):
    """A second process that takes a folder's lock through `code` and prints `locked`; yields its PID."""
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=ENV, cwd=REPO / "tests")
    try:
        line = p.stdout.readline().decode().strip()
        assert line == "locked", p.stderr.read().decode() if p.poll() is not None else line
        yield p.pid
    finally:
        p.kill()
        p.wait()


HOLD_LOCK = """
import sys, time
from ofa_deploy.fsio import writer_lock
lock = writer_lock(sys.argv[1], "folder")
print("locked", flush=True)
time.sleep(300)
"""


@pytest.fixture(scope="module")
def tiny_supernet(tmp_path_factory) -> Path:
    import torch

    from ofa_deploy.nn import OFAMobileNetV3, save_supernet
    from ofa_deploy.train import load_recipe

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("supernet")
    return save_supernet(OFAMobileNetV3(load_recipe("tiny-synthetic").space), d / "supernet.pt",
                         meta={"recipe": "tiny-synthetic"})


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, tiny_supernet) -> Path:
    """A measured 6-row accuracy dataset of the tiny supernet (copy it before changing it)."""
    from ofa_deploy.predictor import DatasetBuilder

    out = tmp_path_factory.mktemp("ds") / "ds"
    DatasetBuilder(out, tiny_supernet, samples=6, val_images=32, bn_images=16).run()
    return out


# ---- the lock itself --------------------------------------------------------------------------------
def test_lock_is_reentrant_here_and_removed_on_release(tmp_path):
    with writer_lock(tmp_path / "f") as a:
        assert (tmp_path / "f" / LOCK_NAME).read_text().strip() == str(os.getpid())
        with writer_lock(tmp_path / "f"):
            pass
        assert (tmp_path / "f" / LOCK_NAME).exists()  # the outer holder still has it
        assert a.folder == tmp_path / "f"
    assert not (tmp_path / "f" / LOCK_NAME).exists()


def test_second_process_is_refused_with_the_holders_pid(tmp_path):
    with holder(HOLD_LOCK, tmp_path / "f") as pid, pytest.raises(BusyError, match=f"PID {pid}"):
        writer_lock(tmp_path / "f", "latency table")
    with writer_lock(tmp_path / "f"):  # the holder is gone: free again
        pass


def test_lock_file_of_a_killed_process_does_not_block(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "f")], stdout=subprocess.PIPE, env=ENV)
    assert p.stdout.readline().strip() == b"locked"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert (tmp_path / "f" / LOCK_NAME).read_text().strip() == str(p.pid)  # left behind, naming a dead PID
    with writer_lock(tmp_path / "f"):
        assert (tmp_path / "f" / LOCK_NAME).read_text().strip() == str(os.getpid())


# ---- item 2: concurrent writers -----------------------------------------------------------------------
HOLD_PROFILE = """
import sys, time
from ofa_deploy.devices.local import OnnxRuntimeBackend
from ofa_deploy.latency.profiler import plan_profile
from ofa_deploy.latency.protocol import Protocol
from ofa_deploy.space import SpaceSpec
spec = SpaceSpec(width_mult=0.5, n_classes=10, in_channels=1)  # the space of PROFILE_ARGS
plan = plan_profile(spec, "cpu", OnnxRuntimeBackend(threads=1).info(), [128], sys.argv[1],
                    Protocol(warmup=1, min_runs=3, max_runs=3, check_every=3, sessions=1, chunk=16))
print("locked", flush=True)
time.sleep(300)
"""

PROFILE_ARGS = ["--device", "cpu", "--width", "0.5", "--classes", "10", "--in-channels", "1", "-r", "128",
                "--sessions", "1", "--max-runs", "3"]


def test_two_profiles_on_one_folder_the_second_exits_2(cli, tmp_path):
    folder = tmp_path / "table"
    with holder(HOLD_PROFILE, folder) as pid:
        before = snapshot(folder)
        assert "meta.yaml" in before
        code, _, err = cli("profile", *PROFILE_ARGS, "--out", folder)
        one_error_line(code, err, f"PID {pid}", str(folder))
        assert snapshot(folder) == before


def test_two_dataset_builds_on_one_folder_the_second_exits_2(cli, tiny_supernet, tmp_path):
    hold = """
    import sys, time
    from ofa_deploy.predictor import DatasetBuilder
    builder = DatasetBuilder(sys.argv[1], sys.argv[2], samples=4, val_images=32, bn_images=16)
    builder._write_meta()
    print("locked", flush=True)
    time.sleep(300)
    """
    folder = tmp_path / "ds"
    with holder(hold, folder, tiny_supernet) as pid:
        before = snapshot(folder)
        code, _, err = cli("predictor", "dataset", "--supernet", tiny_supernet, "--samples", 4, "--out", folder,
                           "--val-images", 32, "--bn-images", 16, "--json")
        one_error_line(code, err, f"PID {pid}")
        assert snapshot(folder) == before


def test_two_training_runs_on_one_folder_the_second_exits_2(cli, tmp_path):
    hold = """
    import sys, time
    from ofa_deploy.train import load_recipe
    from ofa_deploy.train.progressive import Trainer

    def wait(info):
        print("locked", flush=True)
        time.sleep(300)

    Trainer(load_recipe("tiny-synthetic"), sys.argv[1], progress=wait, threads=1).run()
    """
    folder = tmp_path / "run"
    with holder(hold, folder) as pid:
        before = snapshot(folder)
        code, _, err = cli("train", "--recipe", "tiny-synthetic", "--out", folder, "--threads", "1")
        one_error_line(code, err, f"PID {pid}", "training run")
        assert snapshot(folder) == before


def test_calibration_is_stored_under_the_tables_lock(tmp_path):
    from ofa_deploy.latency.table import read_metadata, store_calibration

    folder = tmp_path / "table"
    synthetic_table(PROFILE_SPEC, [32]).save(folder)
    cal = {"kind": "linear", "a": 1.5, "b": 0.25}
    with holder(HOLD_LOCK, folder) as pid, pytest.raises(BusyError, match=f"PID {pid}"):
        store_calibration(folder, cal)
    assert read_metadata(folder)["calibration"] is None
    store_calibration(folder, cal)
    assert LatencyTable.load(folder).calibration == cal


# ---- item 3: a table without meta.yaml ----------------------------------------------------------------
def _table_rows(tmp_path: Path) -> str:
    t = synthetic_table(PROFILE_SPEC, [32])
    t.save(tmp_path / "src")
    return (tmp_path / "src" / TABLE_FILE).read_text()


def test_rows_without_meta_are_refused_not_appended_to(cli, tmp_path):
    folder = tmp_path / "table"
    folder.mkdir()
    (folder / TABLE_FILE).write_text(_table_rows(tmp_path))
    before = sha(folder / TABLE_FILE)
    code, _, err = cli("profile", *PROFILE_ARGS, "--out", folder)
    one_error_line(code, err, "no meta.yaml", "--fresh")
    assert sha(folder / TABLE_FILE) == before and not (folder / "meta.yaml").exists()

    from ofa_deploy.devices.local import OnnxRuntimeBackend
    from ofa_deploy.latency.profiler import plan_profile

    plan = plan_profile(PROFILE_SPEC, "cpu", OnnxRuntimeBackend(threads=1).info(), [32], folder, FAST, fresh=True)
    assert plan.done == 0 and not (folder / TABLE_FILE).exists() and (folder / "meta.yaml").exists()
    plan.lock.release()


# ---- duplicate rows: readers refuse, `lut repair` keeps every unique row -----------------------------
def test_duplicate_table_rows_are_refused_and_repaired(cli, tmp_path):
    folder = tmp_path / "table"
    table = synthetic_table(PROFILE_SPEC, [32])
    table.save(folder)
    lines = (folder / TABLE_FILE).read_text().splitlines(keepends=True)
    fields = lines[5].rstrip("\n").split(",")
    fields[3] = "9.5"  # the same key measured again, with another mean: a conflict
    with open(folder / TABLE_FILE, "a") as f:
        f.writelines(lines[1:4])  # identical repeats (what two profiles appending at once leave)
        f.write(",".join(fields) + "\n")
    with pytest.raises(LatencyTableError, match="lut repair"):
        LatencyTable.load(folder)
    code, _, err = cli("lut", "show", folder)
    one_error_line(code, err, "4 duplicate row(s)", f"ofa-deploy lut repair {folder}")

    code, out, err = cli("lut", "repair", folder)
    assert code == 0, err
    text = " ".join(out.split())
    assert f"kept {len(table)} unique rows" in text and "dropped 3 identical" in text and "1 conflicting" in text
    back = LatencyTable.load(folder)
    assert [r.to_csv() for r in back.rows] == [r.to_csv() for r in table.rows]  # the first of each key kept
    assert not repair_table(folder).changed


def test_profile_rerun_on_duplicate_rows_says_how_to_repair(tmp_path):
    from ofa_deploy.devices.local import OnnxRuntimeBackend
    from ofa_deploy.latency.profiler import plan_profile

    info = OnnxRuntimeBackend(threads=1).info()
    folder = tmp_path / "table"
    plan_profile(PROFILE_SPEC, "cpu", info, [32], folder, FAST).lock.release()
    rows = "".join(f"{r.key},32,3,{','.join(['0.1'] * 5)}\n" for r in synthetic_table(PROFILE_SPEC, [32]).rows[:3])
    (folder / TABLE_FILE).write_text("key,resolution,count,mean,median,std,p10,p90\n" + rows + rows)
    with pytest.raises(LatencyTableError, match="lut repair"):
        plan_profile(PROFILE_SPEC, "cpu", info, [32], folder, FAST)
    assert repair_table(folder).identical == 3
    plan = plan_profile(PROFILE_SPEC, "cpu", info, [32], folder, FAST)
    assert plan.done == 3
    plan.lock.release()


def test_duplicate_dataset_rows_are_refused_and_repaired(cli, dataset, tmp_path):
    folder = tmp_path / "ds"
    shutil.copytree(dataset, folder)
    rows = (folder / "rows.csv").read_text().splitlines(keepends=True)
    with open(folder / "rows.csv", "a") as f:
        f.writelines(rows[1:])  # every row twice, as two concurrent builds left them
    code, _, err = cli("predictor", "fit", folder, "--out", tmp_path / "p.npz", "--hidden", "8", "--holdout", "0")
    one_error_line(code, err, "6 repeated row(s)", f"ofa-deploy predictor repair {folder}")
    assert not (tmp_path / "p.npz").exists()

    code, out, err = cli("predictor", "repair", folder)
    assert code == 0 and "kept 6 unique rows" in " ".join(out.split()) and "dropped 6 identical" in out, err
    assert (folder / "rows.csv").read_text() == "".join(rows)
    code, _, err = cli("predictor", "fit", folder, "--out", tmp_path / "p.npz", "--hidden", "8", "--holdout", "0")
    assert code == 0, err


# ---- item 5 and 8: --out never clobbers another kind, is checked before the work ------------------------
@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


SEARCH = ["search", "--device", "cpu", "--latency", "30ms", "--no-verify"]  # --out rules: no timing


def test_search_does_not_replace_a_table_file(cli, home, tmp_path):
    synthetic_table(PROFILE_SPEC, [32]).save(tmp_path / "t")
    target = tmp_path / "t" / TABLE_FILE
    before = sha(target)
    code, _, err = cli(*SEARCH, "--out", target)
    one_error_line(code, err, "part of a latency table", "--force")
    assert sha(target) == before
    code, _, err = cli(*SEARCH, "--out", target, "--force")
    assert code == 0 and json.loads(target.read_text())["arch"], err


def test_search_does_not_replace_a_predictor(cli, home, tmp_path):
    target = tmp_path / "predictor.npz"
    shutil.copyfile(PREDICTOR, target)
    before = sha(target)
    code, _, err = cli(*SEARCH, "--out", target)
    one_error_line(code, err, "is a predictor file (.npz), not a subnet file", "--force")
    assert sha(target) == before
    code, _, err = cli(*SEARCH, "--out", target, "--force")
    assert code == 0 and json.loads(target.read_text())["arch"], err


def test_search_rewrites_its_own_subnet_file(cli, home, tmp_path):
    target = tmp_path / "s.json"
    assert cli(*SEARCH, "--out", target)[0] == 0
    code, _, err = cli(*SEARCH, "--out", target)
    assert code == 0, err  # a subnet file is what search writes: no --force needed


def test_fit_does_not_replace_a_subnet_file(cli, home, dataset, tmp_path):
    target = tmp_path / "subnet.json"
    assert cli(*SEARCH, "--out", target)[0] == 0
    before = sha(target)
    fit = ["predictor", "fit", dataset, "--hidden", "8", "--holdout", "0", "--out", target]
    code, _, err = cli(*fit)
    one_error_line(code, err, "is a subnet file, not a predictor file", "--force")
    assert sha(target) == before
    code, _, err = cli(*fit, "--force")
    from ofa_deploy.predictor import Predictor

    assert code == 0 and Predictor.load(target).spec, err


def test_convert_does_not_replace_another_kind_of_file(cli, home, tmp_path):
    subnet = tmp_path / "s.json"
    assert cli(*SEARCH, "--out", subnet)[0] == 0
    npz = tmp_path / "predictor.npz"
    shutil.copyfile(PREDICTOR, npz)
    code, _, err = cli("subnet", "convert", subnet, "--to", "json", "--out", npz)
    one_error_line(code, err, "is a predictor file (.npz), not a subnet file")
    assert sha(npz) == sha(PREDICTOR)
    target = tmp_path / "p.yaml"
    target.write_text("notes: keep me\n")
    code, _, err = cli("subnet", "convert", subnet, "--to", "yaml", "--out", target)
    one_error_line(code, err, "does not recognise", "--force")
    assert target.read_text() == "notes: keep me\n"
    code, _, err = cli("subnet", "convert", subnet, "--to", "yaml", "--out", target, "--force")
    assert code == 0 and identify(target) == "subnet", err


def test_profile_does_not_write_into_a_dataset_folder(cli, dataset, tmp_path):
    folder = tmp_path / "ds"
    shutil.copytree(dataset, folder)
    before = snapshot(folder)
    code, _, err = cli("profile", *PROFILE_ARGS, "--out", folder)
    one_error_line(code, err, "is an accuracy dataset folder, not a latency table folder", "--force")
    assert snapshot(folder) == before


@pytest.mark.parametrize("case", ["fit to a folder", "profile to a file", "dataset to a file"])
def test_out_of_the_wrong_shape_is_one_line(cli, dataset, tiny_supernet, tmp_path, case):
    target = tmp_path / "x"
    if case == "fit to a folder":
        target.mkdir()
        code, _, err = cli("predictor", "fit", dataset, "--out", target)
        one_error_line(code, err, "is a folder; give a file name for the predictor file")
    elif case == "profile to a file":
        target.write_text("x")
        code, _, err = cli("profile", *PROFILE_ARGS, "--out", target)
        one_error_line(code, err, "not a folder")
        assert target.read_text() == "x"
    else:
        target.write_text("x")
        code, _, err = cli("predictor", "dataset", "--supernet", tiny_supernet, "--samples", 2, "--out", target)
        one_error_line(code, err, "not a folder")
        assert target.read_text() == "x"


def test_unwritable_out_fails_before_the_work(cli, home, dataset, tmp_path, monkeypatch):
    """A path under a file cannot be created whoever runs the tests (chmod does not stop root)."""
    from ofa_deploy import search
    from ofa_deploy.predictor import fit

    def never(*a, **k):
        raise AssertionError("the work started")

    monkeypatch.setattr(fit, "fit_predictor", never)
    monkeypatch.setattr(search, "search", never)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = cli("predictor", "fit", dataset, "--out", blocker / "p.npz")
    one_error_line(code, err, "is a file, not a folder")
    code, _, err = cli(*SEARCH, "--out", blocker / "s.json")
    one_error_line(code, err, "is a file, not a folder")
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(blocker / "home"))  # the state folder of last_search
    code, _, err = cli(*SEARCH, "--out", tmp_path / "s.json")
    one_error_line(code, err, "is a file, not a folder")
    assert not (tmp_path / "s.json").exists()


def test_read_only_folder_fails_before_the_work(cli, home, dataset, tmp_path, monkeypatch):
    from ofa_deploy.predictor import fit

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        try:
            (ro / "probe").write_text("")
        except PermissionError:
            pass
        else:
            pytest.skip("running as root: chmod 0o500 does not stop writes (the under-a-file test covers it)")
        monkeypatch.setattr(fit, "fit_predictor", lambda *a, **k: pytest.fail("the work started"))
        code, _, err = cli("predictor", "fit", dataset, "--out", ro / "p.npz")
        one_error_line(code, err, "is not writable")
        with pytest.raises(OutputError, match="not writable"):
            check_output(ro / "t", "table")
    finally:
        ro.chmod(0o700)


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "one")
    atomic_write_text(tmp_path / "a.txt", "two")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"] and (tmp_path / "a.txt").read_text() == "two"


# ---- item 4: export is verified before it reaches its name ---------------------------------------------
@pytest.fixture(scope="module")
def export_work(tmp_path_factory, tiny_supernet):
    from ofa_deploy.space import Arch, Subnet, save_subnet
    from ofa_deploy.train import load_recipe

    spec = load_recipe("tiny-synthetic").space
    d = tmp_path_factory.mktemp("export")
    a = save_subnet(Subnet(spec, Arch((5, 3) * 5, (4, 3) * 5, (2, 1, 2, 2, 1), 24)), d / "a.json")
    b = save_subnet(Subnet(spec, Arch((3,) * 10, (3,) * 10, (1,) * 5, 16)), d / "b.json")
    return tiny_supernet, a, b


def _export(supernet: Path, subnet: Path, out: Path, **kw):
    from ofa_deploy.export.pipeline import ExportOptions, plan_export, run_export

    return run_export(plan_export(ExportOptions("onnx", subnet, checkpoint=supernet, out=out, verify_images=4,
                                                **kw)))


def test_interrupted_verification_leaves_the_final_name_as_it_was(export_work, tmp_path, monkeypatch):
    from ofa_deploy.export import pipeline
    from ofa_deploy.export.report import load_report, report_path

    supernet, a, b = export_work
    out = tmp_path / "m.onnx"
    _export(supernet, a, out)
    before = snapshot(tmp_path)
    assert sorted(before) == ["m.onnx", "m.onnx.report.json"]

    def killed(*args, **kw):
        raise KeyboardInterrupt  # what Ctrl-C (or a kill) does in the middle of verification

    monkeypatch.setattr(pipeline, "compare", killed)
    with pytest.raises(KeyboardInterrupt):
        _export(supernet, b, out)
    assert snapshot(tmp_path) == before  # the old verified pair, nothing staged left behind
    assert load_report(out)["subnet"]["path"] == str(a.resolve())
    with pytest.raises(KeyboardInterrupt):
        _export(supernet, b, tmp_path / "new.onnx")
    assert not (tmp_path / "new.onnx").exists() and not report_path(tmp_path / "new.onnx").exists()


def test_export_killed_during_verification_leaves_nothing_at_the_final_name(export_work, tmp_path):
    supernet, a, _ = export_work
    code = """
    import sys, time
    from pathlib import Path
    from ofa_deploy.export import pipeline
    from ofa_deploy.export.pipeline import ExportOptions, plan_export, run_export

    def stuck(*a, **k):
        print("locked", flush=True)  # verification has started
        time.sleep(300)

    pipeline.compare = stuck
    run_export(plan_export(ExportOptions("onnx", Path(sys.argv[1]), checkpoint=Path(sys.argv[2]),
                                         out=Path(sys.argv[3]), verify_images=4)))
    """
    out = tmp_path / "out" / "m.onnx"
    with holder(code, a, supernet, out) as pid:
        os.kill(pid, signal.SIGKILL)
    names = [p.name for p in (tmp_path / "out").iterdir()]
    assert "m.onnx" not in names and "m.onnx.report.json" not in names
    assert all(n.startswith(".") for n in names)  # at most the hidden staged file


def test_failed_verification_is_kept_under_the_failed_name(export_work, tmp_path, monkeypatch):
    from ofa_deploy.errors import VerificationError
    from ofa_deploy.export import pipeline
    from ofa_deploy.export.report import load_report

    supernet, a, _ = export_work
    real = pipeline.compare

    def off(ref, got, labels, *args, **kw):  # compare also takes the fp32 tolerance (issue 29)
        return real(ref, got * 1.01, labels, *args, **kw)

    monkeypatch.setattr(pipeline, "compare", off)
    out = tmp_path / "m.onnx"
    with pytest.raises(VerificationError, match="Nothing was written at"):
        _export(supernet, a, out)
    assert not out.exists()
    failed = tmp_path / "m.failed.onnx"
    report = load_report(failed)
    assert report["passed"] is False and report["file"] == str(failed.resolve())


def test_benchmark_refuses_a_report_of_another_file(cli, export_work, tmp_path):
    supernet, a, b = export_work
    out, other = tmp_path / "m.onnx", tmp_path / "other.onnx"
    _export(supernet, a, out)
    _export(supernet, b, other)
    shutil.copyfile(other, out)  # a newer file beside the older report
    code, _, err = cli("benchmark", out, "--sessions", "1", "--max-runs", "20")
    one_error_line(code, err, "belongs to another file", "export it again")

    report = tmp_path / "other.onnx.report.json"
    doc = json.loads(report.read_text())
    del doc["sha256"]
    report.write_text(json.dumps(doc))
    code, _, err = cli("benchmark", other, "--sessions", "1", "--max-runs", "20")
    one_error_line(code, err, "does not name the sha256")


def test_publish_interrupted_between_renames_leaves_no_old_report(export_work, tmp_path, monkeypatch):
    from ofa_deploy.export import report as report_mod
    from ofa_deploy.export.report import load_report, report_path

    supernet, a, b = export_work
    out = tmp_path / "m.onnx"
    _export(supernet, a, out)
    real, calls = report_mod.replace, []

    def second_rename_dies(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(report_mod, "replace", second_rename_dies)
    with pytest.raises(KeyboardInterrupt):
        _export(supernet, b, out)
    assert out.exists() and not report_path(out).exists()  # the new file, and no report rather than the old one
    assert load_report(out) is None


def test_export_does_not_replace_another_kind_of_file(cli, export_work, tmp_path):
    supernet, a, _ = export_work
    target = tmp_path / "m.onnx"
    target.write_text("my notes, not a model\n")
    args = ["export", "--subnet", a, "--supernet", supernet, "--format", "onnx", "--verify-images", "4", "--out", target]
    code, out, err = cli(*args)
    one_error_line(code, err, "does not recognise, not an exported model", "--force")
    assert target.read_text() == "my notes, not a model\n" and out == ""
    code, _, err = cli(*args, "--force")
    assert code == 0 and identify(target) == "model", err


def test_dataset_repeats_refused_and_a_conflicting_one_keeps_the_first(dataset, tmp_path):
    from ofa_deploy.predictor import load_accuracy_dataset
    from ofa_deploy.predictor.dataset import repair_dataset

    folder = tmp_path / "ds"
    shutil.copytree(dataset, folder)
    rows = (folder / "rows.csv").read_text().splitlines(keepends=True)
    fields = rows[2].split(",")
    fields[5] = str(int(fields[5]) - 1 if int(fields[5]) else 1)  # the same subnet, another result
    with open(folder / "rows.csv", "a") as f:
        f.write(rows[1].replace(rows[1].split(",")[-1], "9.999\n"))  # a repeat that only differs in timing
        f.write(",".join(fields))
    with pytest.raises(FormatError, match="predictor repair"):
        load_accuracy_dataset(folder)
    r = repair_dataset(folder)
    assert (r.kept, r.identical, r.conflicts) == (6, 1, [int(fields[0])])
    assert (folder / "rows.csv").read_text() == "".join(rows)
    assert len(load_accuracy_dataset(folder)) == 6


# ---- outputs of the import/export commands, validation files, concurrent exports (#18) ----------------
def test_import_and_export_commands_check_their_out(cli, home, tmp_path):
    """`predictor import`, `lut import`, `lut export` refuse an --out of another kind (exit 2, one
    line, nothing changed) before reading anything, like every other writing command."""
    table = tmp_path / "t"
    synthetic_table(PROFILE_SPEC, [32]).save(table)
    before = snapshot(table)
    subnet = tmp_path / "s.json"
    assert cli(*SEARCH, "--out", subnet)[0] == 0
    sub_sha = sha(subnet)
    code, _, err = cli("predictor", "import", tmp_path / "absent.pth", "--out", subnet)
    one_error_line(code, err, "is a subnet file, not a predictor file", "--force")
    code, _, err = cli("lut", "import", tmp_path / "absent.yaml", "--device", "x", "--out", subnet)
    one_error_line(code, err, "not a folder")
    code, _, err = cli("lut", "export", table, "--out", table)  # the table folder itself
    one_error_line(code, err, "is a latency table folder, not a folder of official lookup tables", "--force")
    code, _, err = cli("lut", "export", table, "--out", subnet)
    one_error_line(code, err, "not a folder")
    assert snapshot(table) == before and sha(subnet) == sub_sha
    out = tmp_path / "official"
    assert cli("lut", "export", table, "--out", out)[0] == 0
    assert identify(out) == "official-tables" and cli("lut", "export", table, "--out", out)[0] == 0  # its own kind
    code, _, err = cli("lut", "import", out, "--device", "x", "--out", out)  # over its own source files
    one_error_line(code, err, "_lookup_table.yaml), not a latency table folder", "--force")


def test_validate_refuses_a_zero_holdout_before_any_work(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))
    table = tmp_path / "t"
    synthetic_table(PROFILE_SPEC, [24]).save(table)
    before = snapshot(table)
    for bad in ("0", "1", "-0.5"):
        code, _, err = cli("latency", "validate", "--table", table, "--calibrate", "--holdout", bad, "--samples", "6",
                           "--out", tmp_path / "v")
        one_error_line(code, err, "--holdout")
        assert snapshot(table) == before and not (tmp_path / "v").exists()
    code, _, err = cli("latency", "validate", "--table", table, "--calibrate", "--holdout", "0.1", "--samples", "4")
    one_error_line(code, err, "--holdout 0.1 of 4 subnets")  # nothing left to hold out
    assert snapshot(table) == before


def test_validation_and_sweep_plots_are_written_atomically(tmp_path, monkeypatch):
    """An interrupted plot leaves the previous file whole and no temporary file beside it."""
    import numpy as np
    from matplotlib.figure import Figure

    from ofa_deploy.latency.validation import error_metrics, save_validation
    from ofa_deploy.search import pareto
    from ofa_deploy.space import Arch

    arch = Arch((3,) * 20, (3,) * 20, (2,) * 5, 24).to_dict()
    raw, measured = [1.0, 2.0, 3.0], [1.1, 2.1, 2.9]
    result = {"archs": [arch] * 3, "raw": raw, "measured": measured, "raw_all": error_metrics(raw, measured),
              "device": "cpu", "resolutions": [24]}
    files = save_validation(result, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["validation.csv", "validation.png"]
    assert files[0].read_text().count("\n") == 4
    old = {p.name: sha(p) for p in files}

    def broken(self, path, *a, **k):
        Path(path).write_bytes(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(KeyboardInterrupt):
        save_validation({**result, "measured": [5.0, 6.0, 7.0]}, tmp_path)
    assert sha(tmp_path / "validation.png") == old["validation.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["validation.csv", "validation.png"]

    class R:  # the fields `plot` reads
        latency_ms, flops, accuracy = 1.0, 1e6, 0.5

    R.arch = Arch.from_dict(arch)
    (tmp_path / "pareto.png").write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        pareto.plot([R()], tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 3
    monkeypatch.undo()
    pareto.plot([R()], tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG" and len(list(tmp_path.iterdir())) == 3
    assert np.isfinite(result["raw_all"]["mape"])


HOLD_EXPORT = """
import sys, time
from pathlib import Path
from ofa_deploy.fsio import writer_lock
out = Path(sys.argv[1])
lock = writer_lock(out.parent, "exported model", name=out.name)
print("locked", flush=True)
time.sleep(300)
"""


def test_two_exports_to_one_name_the_second_exits_2(cli, export_work, tmp_path):
    supernet, a, _ = export_work
    out = tmp_path / "m.onnx"
    args = ["export", "--subnet", a, "--supernet", supernet, "--format", "onnx", "--verify-images", "4"]
    with holder(HOLD_EXPORT, out) as pid:
        code, _, err = cli(*args, "--out", out)
        one_error_line(code, err, f"{out} is in use", f"PID {pid}")
        assert not out.exists()
        code, _, err = cli(*args, "--out", tmp_path / "other.onnx")  # another name in the same folder: not blocked
        assert code == 0, err
    code, _, err = cli(*args, "--out", out)
    assert code == 0 and identify(out) == "model", err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["m.onnx", "m.onnx.report.json", "other.onnx", "other.onnx.report.json"])  # no lock file left
