"""Faults a user meets (issue 27): a torn last row, a full disk, symlink loops, kills between
renames, leftovers of dead runs. Each test reproduces the fault as the user meets it."""

from __future__ import annotations

import json
import os

import pytest

PROFILE = ("profile", "--resolutions", "24", "--sessions", "1", "--max-runs", "3")


# ---- 1. a torn last row in table.csv --------------------------------------------------------------
@pytest.mark.parametrize("method", [None, "isolated"])
def test_torn_last_row_resumes_through_the_cli(cli, tmp_path, method, table_copy):
    out = tmp_path / "t"
    extra = ("--method", method) if method else ("--subnets", "12")
    table_copy(method or "fit", out)  # what `cli(*PROFILE, *extra, "-o", out)` leaves
    table = out / "table.csv"
    whole = table.read_bytes()
    with open(table, "r+b") as f:  # what a kill (or a full disk) mid-row leaves
        f.truncate(len(whole) - 30)
    code, stdout, err = cli(*PROFILE, *extra, "-o", out, "--json")
    assert code == 0, err
    assert json.loads(stdout)["written"] == 1  # the torn row, measured again
    rows = table.read_text().splitlines()
    assert table.read_bytes().endswith(b"\n") and len(rows) == len(whole.decode().splitlines())
    code, _, err = cli(*PROFILE, *extra, "-o", out)  # and again: nothing left to do
    assert code == 0, err


def test_lut_repair_says_what_it_dropped(cli, tmp_path, table_copy):
    out = table_copy("isolated", tmp_path / "t")
    table = out / "table.csv"
    n = len(table.read_text().splitlines())
    with open(table, "ab") as f:
        f.write(b"expanded_conv-input:12x12x8-out")
    code, stdout, err = cli("lut", "repair", out)
    assert code == 0, err
    said = " ".join(stdout.split())  # rich wraps long lines
    assert "dropped a half-written last row: 31 bytes ('expanded_conv-input:12x12x8-out')" in said, said
    assert table.read_bytes().endswith(b"\n") and len(table.read_text().splitlines()) == n
    with open(table, "ab") as f:
        f.write(b"Conv-inp")
    code, stdout, err = cli("lut", "repair", out, "--json")
    assert code == 0, err
    assert json.loads(stdout)["torn_tail"] == "Conv-inp"
    code, stdout, _ = cli("lut", "repair", out)
    assert "nothing to repair" in stdout



def test_predictor_repair_says_what_it_dropped(cli, tmp_path):
    import torch

    from ofa_deploy.nn import OFAMobileNetV3, save_supernet
    from ofa_deploy.space import SpaceSpec

    torch.manual_seed(0)
    sup = save_supernet(OFAMobileNetV3(SpaceSpec(width_mult=0.5, n_classes=10, in_channels=1, resolutions=(24,))),
                        tmp_path / "s.pt")
    out = tmp_path / "ds"
    code, _, err = cli("predictor", "dataset", "--supernet", sup, "--samples", 3, "--val-images", 16, "--bn-images",
                       8, "--threads", 1, "--out", out)
    assert code == 0, err
    rows = out / "rows.csv"
    whole = rows.read_bytes()
    with open(rows, "ab") as f:
        f.write(b"3,3 5 7")
    code, stdout, err = cli("predictor", "repair", out)
    said = " ".join(stdout.split())
    assert code == 0 and "dropped a half-written last row: 7 bytes ('3,3 5 7')" in said, stdout + err
    assert rows.read_bytes() == whole

# ---- 2. a full disk -------------------------------------------------------------------------------
@pytest.fixture
def tmpfs(tmp_path):
    """An 8 MB tmpfs at tmp_path/fs, and `fill(left)` that leaves about `left` bytes free on it."""
    import shutil
    import subprocess

    mnt = tmp_path / "fs"
    mnt.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], check=True,
                       capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"cannot mount a small tmpfs here (needs root / CAP_SYS_ADMIN): {e}")

    def fill(left: int) -> None:
        free = shutil.disk_usage(mnt).free
        with open(mnt / "filler", "ab") as f:
            f.write(b"\0" * max(0, free - left))

    def unfill() -> None:
        (mnt / "filler").unlink(missing_ok=True)

    fill.unfill = unfill  # type: ignore[attr-defined]
    try:
        yield mnt, fill
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True, timeout=20)


def _one_line_no_space(code, err, path):
    said = " ".join(err.split())
    assert code == 2 and "Traceback" not in err, err
    assert f"cannot write {path}: no space left" in said and "rerun the same command to resume" in said, said


def _no_staged(folder):
    return [p.name for p in folder.rglob(".*.tmp*")]


def test_profile_on_a_full_disk_says_one_line_and_resumes(cli, tmpfs):
    mnt, fill = tmpfs
    out = mnt / "t"
    fill(3 * 4096)  # a page each for the lock (its PID), meta.yaml and some 40 rows
    code, _, err = cli(*PROFILE, "--method", "isolated", "-o", out)
    _one_line_no_space(code, err, out / "table.csv")
    assert (out / "table.csv").read_bytes().endswith(b"\n") and not _no_staged(out)
    kept = len((out / "table.csv").read_text().splitlines())
    assert kept > 1
    fill.unfill()
    code, stdout, err = cli(*PROFILE, "--method", "isolated", "-o", out, "--json")
    assert code == 0, err
    assert json.loads(stdout)["written"] == len((out / "table.csv").read_text().splitlines()) - kept


def test_fit_stage_on_a_full_disk(cli, tmpfs, table_copy):
    mnt, fill = tmpfs
    out = table_copy("isolated", mnt / "t")  # what `cli(*PROFILE, "--method", "isolated", "-o", out)` leaves
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    fill(0)
    code, _, err = cli(*PROFILE, "--subnets", "12", "-o", out)
    assert code == 2 and "Traceback" not in err and "no space left" in " ".join(err.split()), err
    assert not _no_staged(out)
    for name in ("table.csv", "meta.yaml"):
        assert (out / name).read_bytes() == before[name]  # the old files, whole
    fill.unfill()
    code, _, err = cli(*PROFILE, "--subnets", "12", "-o", out)
    assert code == 0, err


def test_lut_export_on_a_full_disk_leaves_no_folder(cli, tmp_path, tmpfs, table_copy):
    mnt, fill = tmpfs
    table = table_copy("isolated", tmp_path / "t")
    fill(0)
    code, _, err = cli("lut", "export", table, "-o", mnt / "official")
    assert code == 2 and "no space left" in " ".join(err.split()) and "Traceback" not in err, err
    assert not (mnt / "official").exists()


def test_injected_enospc_in_every_writer_is_one_typed_error(tmp_path, monkeypatch):
    """Without a tmpfs: the OS's ENOSPC, injected into the writes of fsio and of the row appenders."""
    import builtins
    import errno

    from ofa_deploy import fsio
    from ofa_deploy.errors import NoSpaceError

    class Full:
        """A file on a disk with `left` bytes free: a longer write writes what fits, then ENOSPC."""

        def __init__(self, f, left):
            self._f, self.left = f, left

        def write(self, data):
            if len(data) > self.left:
                self._f.write(data[: self.left])
                self._f.flush()
                self.left = 0
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.left -= len(data)
            return self._f.write(data)

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def full_open(left):
        def opener(*args, **kwargs):
            return Full(builtins.open(*args, **kwargs), left)
        return opener

    target = tmp_path / "a.json"
    target.write_text("old\n")
    monkeypatch.setattr(fsio, "open", full_open(10), raising=False)
    with pytest.raises(NoSpaceError, match=r"a\.json: no space left .*it needs 2\.0 kB"):
        fsio.atomic_write_text(target, "x" * 2000)
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["a.json"]
    monkeypatch.undo()

    from ofa_deploy.latency.table import COLUMNS, Row, RowWriter

    folder = tmp_path / "t"
    folder.mkdir()
    w = RowWriter(folder)
    real_write, left = os.write, 20

    def write(fd, data):  # the disk has `left` bytes: a longer write writes what fits, the next one fails
        nonlocal left
        if left == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real_write(fd, bytes(data[:left]))
        left -= n
        return n

    monkeypatch.setattr(os, "write", write)
    row = Row("Conv-input:24x24x1-output:12x12x16", 24, 3, 0.1, 0.1, 0.01, 0.09, 0.11)
    with pytest.raises(NoSpaceError, match="table.csv: no space left"):
        w.write(row)
    monkeypatch.undo()
    w.close()
    assert (folder / "table.csv").read_text() == ",".join(COLUMNS) + "\n"  # the torn row was cut back off


def _full(code, err, *needles):
    """Exit 2, one `error:` line saying the disk is full (and each needle), no traceback."""
    said = " ".join(err.split())
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and "Traceback" not in err, err
    assert lines[-1].startswith("error:") and "no space left" in said and "rerun the same command" in said, err
    for n in needles:
        assert n in said, said


def test_train_on_a_full_disk_then_resume(cli, tmpfs):
    mnt, fill = tmpfs
    run = mnt / "run"
    fill(3 * 4096)  # the lock's PID and the log fit, the training state does not
    code, _, err = cli("train", "--recipe", "tiny-synthetic", "--from-scratch", "smallest", "-o", run,
                       "--stop-after-epochs", "1")
    _full(code, err, str(run / "state.pt"))
    assert not _no_staged(run) and not (run / "state.pt").exists()
    fill.unfill()
    code, _, err = cli("train", "--recipe", "tiny-synthetic", "--from-scratch", "smallest", "-o", run,
                       "--stop-after-epochs", "1", "--resume")
    assert code == 0, err


def test_predictor_dataset_and_fit_on_a_full_disk(cli, tmp_path, tmpfs):
    import torch

    from ofa_deploy.nn import OFAMobileNetV3, save_supernet
    from ofa_deploy.space import SpaceSpec

    mnt, fill = tmpfs
    torch.manual_seed(0)
    supernet = save_supernet(OFAMobileNetV3(SpaceSpec(width_mult=0.5, n_classes=10, in_channels=1,
                                                      resolutions=(24,))), tmp_path / "s.pt")
    args = ("predictor", "dataset", "--supernet", supernet, "--samples", 6, "--val-images", 32, "--bn-images", 16,
            "--threads", 1)
    fill(0)
    code, _, err = cli(*args, "--out", mnt / "ds")
    _full(code, err, str(mnt / "ds"))
    assert not _no_staged(mnt)
    fill.unfill()
    code, _, err = cli(*args, "--out", mnt / "ds")
    assert code == 0, err
    fill(0)
    code, _, err = cli("predictor", "fit", mnt / "ds", "--out", mnt / "p.npz", "--hidden", "8", "--holdout", "0.5")
    _full(code, err, str(mnt / "p.npz"))
    assert not (mnt / "p.npz").exists() and not _no_staged(mnt)


def test_search_and_export_on_a_full_disk(cli, tmp_path, tmpfs, monkeypatch):
    mnt, fill = tmpfs
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(mnt / "home"))
    monkeypatch.chdir(tmp_path)
    fill(0)
    code, _, err = cli("search", "--flops", "5M", "-o", tmp_path / "s.json")
    _full(code, err, str(mnt / "home"))
    fill.unfill()
    code, _, err = cli("search", "--flops", "5M", "-o", tmp_path / "s.json")
    assert code == 0, err
    fill(0)
    code, _, err = cli("export", "--subnet", tmp_path / "s.json", "--format", "onnx", "--verify-images", "4",
                       "--no-recalibrate", "-o", mnt / "m.onnx")
    _full(code, err, str(mnt / "m.onnx"))
    assert "please report" not in err and not (mnt / "m.onnx").exists() and not _no_staged(mnt)


def test_read_only_and_quota_are_said_the_same_way(tmp_path):
    import errno

    from ofa_deploy.fsio import space_error, temp_sibling

    staged = temp_sibling(tmp_path / "m.onnx", keep_suffix=True)
    e = space_error(OSError(errno.EROFS, "Read-only file system", str(staged)))
    assert f"cannot write {tmp_path / 'm.onnx'}: the file system is read-only" in str(e)
    e = space_error(OSError(errno.EDQUOT, "Disk quota exceeded"), tmp_path / "x", need=3_000_000)
    assert "the disk quota is exceeded (it needs 3.0 MB" in str(e) and "rerun the same command" in str(e)


# ---- 3. a symlink loop between two image files ----------------------------------------------------
def _imagenet(root, classes=("n01440764", "n01443537"), per_class=3):
    import numpy as np
    from PIL import Image

    for c, wnid in enumerate(classes):
        for i in range(per_class):
            path = root / "train" / wnid / f"{wnid}_{i}.JPEG"
            path.parent.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng(10 * c + i)
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path, "JPEG")
    return root


def test_symlink_loop_between_two_images_is_named_or_skipped_and_counted(tmp_path):
    from ofa_deploy.data.folder import index_folder
    from ofa_deploy.data.imagenet import ImageFolderSource
    from ofa_deploy.errors import DatasetError

    root = _imagenet(tmp_path / "imnet")
    d = root / "train" / "n01440764"
    os.symlink("b.JPEG", d / "a.JPEG")
    os.symlink("a.JPEG", d / "b.JPEG")
    idx = index_folder(root)  # was: OSError [Errno 40] Too many levels of symbolic links
    assert len(idx.train) == 8
    src = ImageFolderSource(root, val_size=0, workers=0)
    with pytest.raises(DatasetError, match=r"a\.JPEG: cannot read this image .*symbolic links"):
        list(src.eval_batches("train", 24))
    skipping = ImageFolderSource(root, val_size=0, workers=0, skip_bad_images=True)
    assert sum(len(y) for _, y in skipping.eval_batches("train", 24, batch_size=4)) == 6
    assert skipping.skipped.count == 2
    os.symlink("loop2", root / "train" / "loop1")
    os.symlink("loop1", root / "train" / "loop2")
    with pytest.raises(DatasetError, match="loop1: cannot follow this entry"):
        index_folder(root)


# ---- 5. train: a kill at the state save right after a phase ends ------------------------------------
def test_kill_after_phase_end_lists_the_phase_once(cli, tmp_path, monkeypatch):
    from ofa_deploy.train import progressive
    from ofa_deploy.train.progressive import Trainer, read_log

    class Killed(BaseException):
        pass

    real_save, killed = Trainer.save_state, []

    def save_state(self):
        log = read_log(self.out / "log.jsonl") if (self.out / "log.jsonl").exists() else []
        if not killed and log and log[-1]["event"] == "phase_end":
            killed.append(log[-1]["phase"])
            raise Killed  # SIGKILL between the phase_end line and the state that moves past the phase
        real_save(self)

    monkeypatch.setattr(Trainer, "save_state", save_state)
    run = tmp_path / "run"
    with pytest.raises(Killed):
        cli("train", "--recipe", "tiny-synthetic", "--from-scratch", "smallest", "-o", run)
    import gc

    gc.collect()  # the killed trainer's folder lock goes with it, as with a dead process
    monkeypatch.setattr(Trainer, "save_state", real_save)
    code, _, err = cli("train", "--recipe", "tiny-synthetic", "--from-scratch", "smallest", "-o", run, "--resume")
    assert code == 0, err
    ends = [r["phase"] for r in read_log(run / "log.jsonl") if r["event"] == "phase_end"]
    assert ends.count(killed[0]) == 2  # logged twice, as a kill there leaves it ...
    phases = [p["phase"] for p in progressive.phase_table(run / "log.jsonl")]
    assert phases == list(dict.fromkeys(ends))  # ... and listed once
    report = json.loads((run / "report.json").read_text())
    assert [p["phase"] for p in report["phases"]] == phases
    assert (run / "report.md").read_text().count(f"| {killed[0]} ") == 1


# ---- 7. loose ends ---------------------------------------------------------------------------------
def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                       check=True)
    return int(p.stdout)


def test_staged_files_of_dead_runs_are_swept_by_the_next_writer(tmp_path):
    from ofa_deploy.fsio import atomic_write_text, writer_lock

    dead, alive = _dead_pid(), os.getpid()
    stale = [tmp_path / f".B.{dead}-a1b2c3.tmp.tflite", tmp_path / f".state.pt.{dead}.tmp",
             tmp_path / f".state.pt.{dead}-0f0f0f.tmp"]
    keep = [tmp_path / f".B.{alive}-a1b2c3.tmp.tflite", tmp_path / "model.tflite", tmp_path / f"x.{dead}.tmp"]
    for p in stale + keep:
        p.write_bytes(b"x" * 10)
    with writer_lock(tmp_path, "training run"):
        pass
    assert not any(p.exists() for p in stale) and all(p.exists() for p in keep)
    other = tmp_path / "other"
    other.mkdir()
    (other / stale[0].name).write_bytes(b"x")
    atomic_write_text(other / "a.txt", "a\n")  # an atomic write sweeps its folder too (once per process)
    assert not (other / stale[0].name).exists()


def test_profile_fresh_drops_what_described_the_old_table(cli, tmp_path, table_copy):
    out = table_copy("isolated", tmp_path / "t")
    old = [out / "validation.csv", out / "validation.png", out / "checks.csv", out / ".fit-r24.partial.jsonl"]
    for p in old:
        p.write_text("old\n")
    code, _, err = cli(*PROFILE, "--method", "isolated", "-o", out, "--fresh")
    assert code == 0, err
    assert not any(p.exists() for p in old)


def test_train_into_a_latency_table_folder_is_refused(cli, tmp_path, table_copy):
    out = table_copy("isolated", tmp_path / "t")
    before = sorted(p.name for p in out.iterdir())
    code, _, err = cli("train", "--recipe", "tiny-synthetic", "-o", out, "--stop-after-epochs", "1")
    assert code == 2 and "is a latency table folder, not a training run folder" in " ".join(err.split()), err
    assert sorted(p.name for p in out.iterdir()) == before


def test_cores_beyond_this_machine_are_refused_for_a_local_device(tmp_path):
    from ofa_deploy.devices import load_device
    from ofa_deploy.errors import DeviceError

    path = tmp_path / "box.yaml"
    path.write_text("name: box\ncores: [99999]\n")
    with pytest.raises(DeviceError, match="name CPU 99999, but this machine has CPUs 0.."):
        load_device(path)
    path.write_text("name: board\nconnection: ssh\ncores: [99]\n")
    assert load_device(path).cores == (99,)  # a remote board's CPUs are not known here


def test_cache_follows_ofa_deploy_home(monkeypatch, tmp_path):
    from ofa_deploy import paths

    monkeypatch.delenv("OFA_DEPLOY_CACHE", raising=False)
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    assert paths.block_cache_dir() == tmp_path / "home" / "cache" / "blocks"
    monkeypatch.setenv("OFA_DEPLOY_CACHE", str(tmp_path / "c"))
    assert paths.block_cache_dir() == tmp_path / "c" / "blocks"


def test_export_data_on_an_empty_folder_talks_about_imagenet_folders(cli, tmp_path):
    import torch

    from ofa_deploy.nn import OFAMobileNetV3, save_supernet
    from ofa_deploy.space import Arch, SpaceSpec, Subnet, save_subnet

    spec = SpaceSpec(width_mult=0.5, n_classes=10, in_channels=3, resolutions=(32,))
    torch.manual_seed(0)
    sup = save_supernet(OFAMobileNetV3(spec), tmp_path / "s.pt")
    sub = save_subnet(Subnet(spec, Arch((3,) * 20, (3,) * 20, (2,) * 5, 32)), tmp_path / "a.json")
    (tmp_path / "empty").mkdir()
    code, _, err = cli("export", "--supernet", sup, "--subnet", sub, "--format", "onnx", "--data", tmp_path / "empty",
                       "-o", tmp_path / "m.onnx")
    said = " ".join(err.split())
    assert code == 2 and "is empty: give an ImageNet-style folder (train/<wnid>/*.JPEG" in said, err
    assert "idx" not in said and "Fashion" not in said


def _bad_image(root):
    bad = root / "train" / "n01443537" / "n01443537_broken.JPEG"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    return bad


def test_predictor_dataset_counts_skipped_images(cli, tmp_path):
    import torch

    from ofa_deploy.nn import OFAMobileNetV3, save_supernet
    from ofa_deploy.space import SpaceSpec

    root = _imagenet(tmp_path / "imnet", per_class=6)
    bad = _bad_image(root)
    torch.manual_seed(0)
    sup = save_supernet(OFAMobileNetV3(SpaceSpec(width_mult=0.5, n_classes=2, resolutions=(32,))), tmp_path / "s.pt")
    args = ("predictor", "dataset", "--supernet", sup, "--samples", 2, "--dataset", "imagenet", "--data", root,
            "--val-images", 4, "--bn-images", 4, "--workers", 0, "--threads", 1, "--skip-bad-images")
    code, stdout, err = cli(*args, "--out", tmp_path / "ds", "--json")
    assert code == 0, err
    sk = json.loads(stdout)["skipped_images"]
    assert sk["count"] >= 1 and sk["examples"] == [str(bad)]


def test_ctrl_c_says_what_was_kept_and_how_to_resume(cli, tmp_path, monkeypatch):
    from ofa_deploy import search
    from ofa_deploy.export import pipeline
    from ofa_deploy.train.progressive import Trainer

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "run", interrupt)
    code, _, err = cli("train", "--recipe", "tiny-synthetic", "-o", tmp_path / "run")
    said = " ".join(err.split())
    assert code == 130 and "keeps the run up to its last finished epoch" in said and "--resume" in said, err
    monkeypatch.setattr(search, "run_search", interrupt)
    code, _, err = cli("search", "--flops", "5M", "--verify")
    said = " ".join(err.split())
    assert code == 130 and "interrupted: nothing was written" in said and "rerun the same command" in said, err
    code, _, err = cli("search", "--flops", "5M", "-o", tmp_path / "s.json")
    monkeypatch.undo()
    code, _, err = cli("search", "--flops", "5M", "-o", tmp_path / "s.json")
    assert code == 0, err
    monkeypatch.setattr(pipeline, "run_export", interrupt)
    code, _, err = cli("export", "--subnet", tmp_path / "s.json", "--format", "onnx", "-o", tmp_path / "m.onnx")
    said = " ".join(err.split())
    assert code == 130 and f"nothing was written at {tmp_path / 'm.onnx'}" in said and "rerun" in said, err


def test_train_counts_skipped_images_in_log_and_report(cli, tmp_path):
    root = _imagenet(tmp_path / "imnet", per_class=6)
    bad = _bad_image(root)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""name: tiny-folder
space: {{width_mult: 0.25, ks_list: [3], expand_list: [3], depth_list: [1], resolutions: [24], n_classes: 2,
        in_channels: 3}}
data: {{kind: imagenet, root: {root}, val_size: 2, workers: 0, skip_bad_images: true}}
batch_size: 4
steps_per_epoch: 2
bn_images: 4
eval_images: 4
seed: 0
phases:
  - {{name: full, epochs: 1, lr: 0.05, ks: [3], expand: [3], depth: [1]}}
""")
    run = tmp_path / "run"
    code, _, err = cli("train", "--recipe", recipe, "-o", run)
    assert code == 0, err
    from ofa_deploy.train.progressive import read_log

    logged = [r["skipped_images"] for r in read_log(run / "log.jsonl") if "skipped_images" in r]
    assert logged and logged[-1]["examples"] == [str(bad)]
    report = json.loads((run / "report.json").read_text())
    assert report["skipped_images"]["count"] == logged[-1]["count"] >= 1
    assert "unreadable image read(s)" in (run / "report.md").read_text()


# ---- 4. the fit stage: a kill between its two writes, a kill mid-fit --------------------------------
class _Killed(BaseException):
    """A SIGKILL, in process: nothing catches it, no clean-up code of ours runs after it."""


def _fitted(out):
    from ofa_deploy.latency import LatencyTable

    t = LatencyTable.load(out)
    record = (t.metadata.get("incontext") or {}).get("resolutions", {}).get("24")
    return t, record


@pytest.mark.slow
def test_kill_mid_fit_resumes_from_the_timed_chunks(cli, tmp_path, monkeypatch, table_copy):
    from ofa_deploy.latency import incontext

    out = table_copy("isolated", tmp_path / "t")  # what `cli(*PROFILE, "--method", "isolated", "-o", out)` leaves
    real, calls = incontext.measure, []

    def measure(*a, **k):
        calls.append(1)
        if kill_at and len(calls) == kill_at:
            raise _Killed
        return real(*a, **k)

    monkeypatch.setattr(incontext, "measure", measure)
    kill_at = 2  # 40 subnets: chunks of 16, 16, 8; killed as the second chunk starts
    with pytest.raises(_Killed):
        cli(*PROFILE, "--subnets", "40", "-o", out)
    t, record = _fitted(out)
    assert record is None and all(r.method == "isolated" for r in t.rows)
    calls.clear()
    kill_at = 0
    code, _, err = cli(*PROFILE, "--subnets", "40", "-o", out)
    assert code == 0, err
    assert len(calls) == 2  # the first chunk's timings were kept
    t, record = _fitted(out)
    assert record["subnets"] == 40 and any(r.method == "fit" for r in t.rows)
    assert not list(out.glob(".fit-*"))  # the checkpoint goes once the rows are written


@pytest.mark.slow
def test_kill_between_the_fit_stages_two_writes_is_mended(cli, tmp_path, monkeypatch, table_copy):
    from ofa_deploy.latency import incontext
    from ofa_deploy.latency.table import write_metadata

    out = table_copy("isolated", tmp_path / "t")  # what `cli(*PROFILE, "--method", "isolated", "-o", out)` leaves
    real_write = incontext.atomic_write_text

    def write(path, text):
        if path.name == "table.csv":
            raise _Killed  # after meta.yaml, before table.csv
        return real_write(path, text)

    monkeypatch.setattr(incontext, "atomic_write_text", write)
    with pytest.raises(_Killed):
        cli(*PROFILE, "--subnets", "12", "-o", out)
    monkeypatch.undo()
    real, calls = incontext.measure, []
    monkeypatch.setattr(incontext, "measure", lambda *a, **k: calls.append(1) or real(*a, **k))
    code, _, err = cli(*PROFILE, "--subnets", "12", "-o", out)
    assert code == 0, err
    assert calls == []  # the fit's timings were kept: nothing timed again
    t, record = _fitted(out)
    assert record is not None and any(r.method == "fit" for r in t.rows)
    fitted = {(r.resolution, r.key): r.median for r in t.rows}

    # What an older version left: rows made in context, meta.yaml without their record. Mended on rerun,
    # refitted from the isolated rows (the prior), not from the fitted ones.
    meta = dict(t.metadata)
    meta.pop("incontext")
    write_metadata(out, meta)
    code, _, err = cli(*PROFILE, "--subnets", "12", "-o", out)
    assert code == 0, err
    t, record = _fitted(out)
    assert record is not None and record["subnets"] == 12
    assert {(r.resolution, r.key): r.median for r in t.rows}.keys() == fitted.keys()


# ---- 6. a ResNet50 net.config read against the supernet beside it -----------------------------------
def _resnet_golden():
    from support.shared import SHARED, need_shared

    folder = need_shared(SHARED / "golden" / "ofa_resnet50")
    need_shared(folder / "supernet.pth")
    return folder, json.loads((folder / "cases.json").read_text())["cases"][0]


def test_resnet_net_config_with_scaled_widths_is_read_against_its_supernet(cli, tmp_path):
    from ofa_deploy.space import load_subnet
    from ofa_deploy.space.checkpoint import checkpoint_space

    folder, case = _resnet_golden()
    cfg = tmp_path / "net.config"
    cfg.write_text(json.dumps(case["net_config"]))
    space = checkpoint_space(folder / "supernet.pth")
    sub = load_subnet(cfg, image_size=case["arch"]["image_size"], spec=space)
    assert sub.spec.same_space(space)
    official = sub.arch.to_official()
    assert [official[k] for k in "dew"] == [case["arch"][k] for k in "dew"]
    # beside a MobileNet supernet: refused for the right reason (the kind), not for its widths
    from ofa_deploy.errors import FormatError
    from ofa_deploy.nn.shipped import shipped_spec

    with pytest.raises(FormatError, match="is a ResNets subnet .* give the supernet the subnet belongs to"):
        load_subnet(cfg, spec=shipped_spec())
    code, stdout, err = cli("export", "--supernet", folder / "supernet.pth", "--subnet", cfg, "--format", "onnx",
                            "-o", tmp_path / "m.onnx", "--verify-images", "2", "--no-recalibrate", "--json")
    assert code == 0, err  # was: "stage 1 has 112 channels, not one of this space's widths [168, 208, 256]"
    assert json.loads(stdout)["passed"]


# ---- 8. a subset of ImageNet's classes beside a 1000-class supernet ---------------------------------
def test_imagenet_subset_is_labelled_by_wnid(tmp_path):
    from ofa_deploy.data.wnids import imagenet_wnids
    from ofa_deploy.errors import DatasetError
    from ofa_deploy.export.inputs import resolve_data
    from ofa_deploy.space import SpaceSpec

    wnids = imagenet_wnids()
    assert len(wnids) == 1000 and list(wnids) == sorted(wnids) and wnids[0] == "n01440764"
    spec = SpaceSpec(width_mult=0.5, n_classes=1000, resolutions=(32,))
    picked = (wnids[1], wnids[2], wnids[999])  # not a prefix of the sorted wnids
    root = _imagenet(tmp_path / "imnet", classes=picked, per_class=3)
    data = resolve_data(spec, {}, root, workers=0)
    labels = sorted({label for _, label in data.source._samples("train") + data.source._samples("test")})
    assert labels == [1, 2, 999]  # was [0, 1, 2]: scored against tench, goldfish, white shark

    bad = _imagenet(tmp_path / "other", classes=(wnids[5], "cats"), per_class=3)
    with pytest.raises(DatasetError, match="cats are not ImageNet-1k wnids"):
        resolve_data(spec, {}, bad, workers=0)
    with pytest.raises(DatasetError, match="only a subset of ImageNet's 1000 classes can be matched"):
        resolve_data(SpaceSpec(width_mult=0.5, n_classes=10, resolutions=(32,)), {}, root, workers=0)
