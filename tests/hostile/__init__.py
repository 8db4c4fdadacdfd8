"""A corpus of hostile and malformed input files, written into a test's tmp folder.

Each case is a `Case`: the `ofa-deploy` arguments that read the file(s), the inputs whose bytes
must not change, the outputs that must not appear, and a marker file that a crafted pickle
creates if anything unpickles it. Nothing binary is committed: every file is generated here.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED_SUPERNET = REPO / "src" / "ofa_deploy" / "_data" / "demo-fmnist" / "supernet.pt"
SHIPPED_PREDICTOR = REPO / "src" / "ofa_deploy" / "_data" / "predictors" / "demo.npz"
CPU_TABLE = REPO / "latency_tables" / "cpu" / "w0.5_c10_in1"
CPU_DEVICE = REPO / "devices" / "cpu.yaml"
MARKER = "pwned"


@dataclass
class Case:
    args: list[str]
    inputs: list[Path]
    outputs: list[Path] = field(default_factory=list)
    marker: Path | None = None


class Payload:
    """Unpickling this creates `path` (what `os.system("touch ...")` of the issue's repro does,
    without a shell): proof that a reader ran code from the file."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def raw_pickle(path: Path, marker: Path, protocol: int = pickle.DEFAULT_PROTOCOL) -> Path:
    """A bare pickle with the payload (the issue's repro): no torch magic number at all."""
    path.write_bytes(pickle.dumps(Payload(marker), protocol=protocol))
    return path


def torch_payload(path: Path, marker: Path, zip_format: bool = True) -> Path:
    """`torch.save` of a dict holding the payload, in the zip or the legacy format."""
    import torch

    torch.save({"state_dict": {}, "spec": {"width_mult": 0.5}, "x": Payload(marker)}, path,
               _use_new_zipfile_serialization=zip_format)
    return path


def random_bytes(path: Path, n: int = 4096, seed: int = 0) -> Path:
    import random

    path.write_bytes(random.Random(seed).randbytes(n))
    return path


def truncated(src: Path, path: Path, n: int) -> Path:
    path.write_bytes(src.read_bytes()[:n])
    return path


def subnet_file(tmp: Path) -> Path:
    """A valid subnet of the shipped demo space (what `export --subnet` reads first)."""
    from ofa_deploy.predictor import Predictor
    from ofa_deploy.space import Subnet, largest_arch, save_subnet

    spec = Predictor.load(SHIPPED_PREDICTOR).spec
    return save_subnet(Subnet(spec, largest_arch(spec, spec.resolutions[-1])), tmp / "subnet.json")


def net_config(tmp: Path, edit: Callable[[dict], None]) -> Path:
    """Our own net.config of a valid subnet, then `edit`ed; the folder is what `subnet show` reads."""
    from ofa_deploy.space import Subnet, largest_arch, official_space
    from ofa_deploy.space.formats import to_net_config

    spec = official_space(1.2)
    cfg = to_net_config(Subnet(spec, largest_arch(spec, 224)))
    edit(cfg)
    folder = tmp / "netcfg"
    folder.mkdir()
    (folder / "net.config").write_text(json.dumps(cfg))
    return folder / "net.config"


def device_yaml(tmp: Path, text: str | bytes) -> Path:
    p = tmp / "dev.yaml"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def table_copy(tmp: Path) -> Path:
    folder = tmp / "table"
    shutil.copytree(CPU_TABLE, folder)
    return folder


# ---- the cases ------------------------------------------------------------------------------
def _predictor_import(make: Callable[[Path, Path], Path]) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        marker = tmp / MARKER
        f = make(tmp, marker)
        return Case(["predictor", "import", f, "--out", tmp / "p.npz"], [f], [tmp / "p.npz"], marker)
    return build


def _search_supernet(make: Callable[[Path, Path], Path]) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        marker = tmp / MARKER
        f = make(tmp, marker)
        out = tmp / "found.json"
        return Case(["search", "-d", "cpu", "-l", "20ms", "--supernet", f, "--out", out], [f] if f.is_file() else [],
                    [out], marker)
    return build


def _export_checkpoint(make: Callable[[Path, Path], Path]) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        marker = tmp / MARKER
        f = make(tmp, marker)
        sub = subnet_file(tmp)
        out = tmp / "net.onnx"
        return Case(["export", "--format", "onnx", "--subnet", sub, "--supernet", f, "--out", out],
                    [f, sub], [out], marker)
    return build


def _train_resume(zip_format: bool) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        marker = tmp / MARKER
        run = tmp / "run"
        run.mkdir()
        state = torch_payload(run / "state.pt", marker, zip_format)
        return Case(["train", "--recipe", "tiny-synthetic", "-o", run, "--resume"], [state],
                    [run / "log.jsonl", run / "supernet.pt"], marker)
    return build


def _search_predictor(make: Callable[[Path], Path]) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        f = make(tmp)
        out = tmp / "found.json"
        return Case(["search", "-d", "cpu", "-l", "1ms", "-p", f, "--out", out], [f], [out])
    return build


def _benchmark(suffix: str) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        f = random_bytes(tmp / f"model{suffix}")
        return Case(["benchmark", f, "--sessions", "1"], [f])
    return build


def _profile_device(content: str | bytes) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        f = device_yaml(tmp, content)
        out = tmp / "profiled"
        return Case(["profile", "--device", f, "--out", out], [f], [out])
    return build


def _table(broken: str) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        folder = table_copy(tmp)
        target = folder / broken
        target.unlink()
        target.mkdir()
        inputs = [p for p in folder.iterdir() if p.is_file()]
        out = tmp / "found.json"
        return Case(["search", "-t", folder, "-l", "20ms", "--out", out], inputs, [out])
    return build


def _official_yaml_binary(tmp: Path) -> Case:
    folder = tmp / "official"
    folder.mkdir()
    f = folder / "224_lookup_table.yaml"
    f.write_bytes(b"\xff\xfe\x00garbage\x80\x81" * 50)
    out = tmp / "found.json"
    return Case(["search", "-t", folder, "--supernet", "ofa-mbv3-w1.2", "-l", "20ms", "--out", out], [f], [out])


def _npz_with_object_array(tmp: Path) -> Path:
    import numpy as np

    p = tmp / "obj.npz"
    with open(p, "wb") as f:
        np.savez(f, __header__=np.array("{}"), evil=np.array([Payload(tmp / MARKER)], dtype=object))
    return p


def _netconfig_show(edit: Callable[[dict], None]) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        f = net_config(tmp, edit)
        return Case(["subnet", "show", f.parent], [f])
    return build


def _set_block(i: int, key: str, value: int) -> Callable[[dict], None]:
    def edit(cfg: dict) -> None:
        cfg["blocks"][i]["conv"][key] = value
    return edit


def _set_head(layer: str, key: str, value: int) -> Callable[[dict], None]:
    def edit(cfg: dict) -> None:
        cfg[layer][key] = value
    return edit


def _dir(name: str) -> Callable[[Path, Path], Path]:
    def make(tmp: Path, marker: Path) -> Path:
        d = tmp / name
        d.mkdir()
        return d
    return make


CASES: dict[str, Callable[[Path], Case]] = {
    # 1. code execution from a file
    "predictor-import-bare-pickle": _predictor_import(lambda t, m: raw_pickle(t / "e.pth", m)),
    "predictor-import-bare-pickle-protocol2": _predictor_import(lambda t, m: raw_pickle(t / "e.pth", m, 2)),
    "predictor-import-torch-zip-payload": _predictor_import(lambda t, m: torch_payload(t / "e.pth", m)),
    "predictor-import-torch-legacy-payload": _predictor_import(lambda t, m: torch_payload(t / "e.pth", m, False)),
    "search-supernet-bare-pickle": _search_supernet(lambda t, m: raw_pickle(t / "e.pth", m)),
    "search-supernet-torch-zip-payload": _search_supernet(lambda t, m: torch_payload(t / "e.pt", m)),
    "search-supernet-torch-legacy-payload": _search_supernet(lambda t, m: torch_payload(t / "e.pt", m, False)),
    "export-checkpoint-torch-zip-payload": _export_checkpoint(lambda t, m: torch_payload(t / "e.pt", m)),
    "export-checkpoint-bare-pickle": _export_checkpoint(lambda t, m: raw_pickle(t / "e.pth", m, 2)),
    "train-resume-state-zip-payload": _train_resume(True),
    "train-resume-state-legacy-payload": _train_resume(False),
    "search-predictor-npz-object-array": _search_predictor(_npz_with_object_array),
    # 2. ordinary file problems
    "predictor-import-random-bytes": _predictor_import(lambda t, m: random_bytes(t / "r.pth")),
    "search-predictor-truncated-npz": _search_predictor(lambda t: truncated(SHIPPED_PREDICTOR, t / "t.npz", 700000)),
    "search-predictor-random-bytes": _search_predictor(lambda t: random_bytes(t / "r.npz")),
    "benchmark-random-onnx": _benchmark(".onnx"),
    "benchmark-random-tflite": _benchmark(".tflite"),
    "profile-device-binary-yaml": _profile_device(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01" * 30),
    "profile-device-bad-yaml": _profile_device("name: x\nruntime: [onnxruntime\n"),
    "profile-device-cores-abc": _profile_device("name: abcdev\nconnection: local\ncores: abc\n"),
    "profile-device-cores-list-of-text": _profile_device("name: abcdev\nconnection: local\ncores: [a, b]\n"),
    "profile-device-port-text": _profile_device("name: sshdev\nconnection: ssh\nhost: h\nport: abc\n"),
    "search-supernet-folder": _search_supernet(_dir("supernet_dir")),
    "search-supernet-folder-named-pt": _search_supernet(_dir("supernet.pt")),
    "search-supernet-random-bytes": _search_supernet(lambda t, m: random_bytes(t / "g.pt")),
    "search-supernet-truncated": _search_supernet(lambda t, m: truncated(SHIPPED_SUPERNET, t / "half.pt", 3_000_000)),
    "search-supernet-empty": _search_supernet(lambda t, m: truncated(SHIPPED_SUPERNET, t / "empty.pt", 0)),
    "export-checkpoint-random-bytes": _export_checkpoint(lambda t, m: random_bytes(t / "g.pt")),
    "export-checkpoint-truncated": _export_checkpoint(lambda t, m: truncated(SHIPPED_SUPERNET, t / "half.pt",
                                                                            3_000_000)),
    "table-meta-yaml-is-a-folder": _table("meta.yaml"),
    "table-csv-is-a-folder": _table("table.csv"),
    "official-table-binary-yaml": _official_yaml_binary,
    # 3. net.config channels that do not chain
    "netconfig-block-in-channels-999": _netconfig_show(_set_block(3, "in_channels", 999)),
    "netconfig-first-block-out-channels": _netconfig_show(_set_block(0, "out_channels", 17)),
    "netconfig-stage-in-channels": _netconfig_show(_set_block(5, "in_channels", 7)),
    "netconfig-classifier-in-features": _netconfig_show(_set_head("classifier", "in_features", 1000)),
    "netconfig-in-channels-text": _netconfig_show(_set_block(2, "in_channels", "abc")),  # type: ignore[arg-type]
}


def sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


__all__ = ["CASES", "Case", "Payload", "sha256"]
