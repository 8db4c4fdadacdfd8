"""The command line's boundary and the design card's flow.

- Usage errors of every command are Typer's (exit 2, no traceback); library errors one red line, exit 2.
- `--version`; every command has `--json`, and what it prints is strict JSON (no NaN / Infinity).
- One option vocabulary: `--supernet/-s`, `--out/-o`, `--device/-d`, `--table/-t`, `--subnet` long only;
  the old names work, hidden, for one release.
- The flow verbatim, on this CPU: `profile --device cpu` -> the `search --latency X` it suggests (no
  --device) -> `export --format onnx` -> `benchmark` (no file), each reading what the one before recorded.
- An official arch dict (no width) used with a w1.0 supernet takes that supernet's space.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from support.shared import REFERENCE, need_shared
from typer.main import get_command

from ofa_deploy.cli import app
from ofa_deploy.cli import choices as cli_choices
from ofa_deploy.space import Arch, Subnet, official_space, save_subnet
from ofa_deploy.views.console import json_text, version_text


def strict_json(text: str):
    def refuse(token: str):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def leaf_commands(cmd=None, path=()):
    """(path, click command) of every command of the app, groups walked."""
    cmd = cmd or get_command(app)
    subs = getattr(cmd, "commands", None)
    if subs is None:
        yield path, cmd
        return
    for name, sub in sorted(subs.items()):
        yield from leaf_commands(sub, (*path, name))


LEAVES = list(leaf_commands())
LEAF_IDS = [" ".join(p) for p, _ in LEAVES]


def options(cmd) -> dict[str, tuple[list[str], bool]]:
    """{param name: (option strings, hidden)} of a command's options."""
    return {p.name: ([*p.opts, *p.secondary_opts], getattr(p, "hidden", False))
            for p in cmd.params if getattr(p, "param_type_name", "") == "option"}


def one_error_line(err: str, expected: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], err


def test_every_command_is_walked():
    assert {"profile", "search", "export", "benchmark", "train", "finetune", "subnet show", "subnet convert", "lut show",
            "lut import", "lut export", "latency validate", "latency predict", "predictor import",
            "predictor show", "predictor dataset", "predictor fit", "lut repair", "predictor repair",
            "report"} == set(LEAF_IDS)


# ---- the vocabulary -------------------------------------------------------------------------------
@pytest.mark.parametrize("path, cmd", LEAVES, ids=LEAF_IDS)
def test_one_option_vocabulary(path, cmd):
    shown = {name: opts for name, (opts, hidden) in options(cmd).items() if not hidden}
    flat = {o: name for name, opts in shown.items() for o in opts}
    assert "--json" in flat, f"{' '.join(path)} has no --json"
    pairs = {"--supernet": "-s", "--out": "-o", "--device": "-d", "--table": "-t", "--samples": "-n"}
    for long, short in pairs.items():
        if long in flat:
            assert short in shown[flat[long]], f"{' '.join(path)}: {long} without {short}"
        if short in flat:
            assert long in shown[flat[short]], f"{' '.join(path)}: {short} is not {long}"
    if "--subnet" in flat:
        assert shown[flat["--subnet"]] == ["--subnet"]
    if "-r" in flat:
        assert set(shown[flat["-r"]]) & {"--resolution", "--resolutions"}
    assert "--checkpoint" not in flat  # a supernet is --supernet everywhere


def test_choice_tuples_are_the_librarys():
    """The two literal tuples of `cli/choices.py` (their library modules import torch) are the library's."""
    from ofa_deploy.data.datasets import DATASET_KINDS
    from ofa_deploy.latency.rows import PREDICTION_STATS, STATS
    from ofa_deploy.train.recipe import SCRATCH_SUBNETS

    assert cli_choices.SCRATCH_SUBNETS == SCRATCH_SUBNETS
    assert cli_choices.DATASET_KINDS == DATASET_KINDS
    assert set(PREDICTION_STATS) <= set(STATS)


# ---- usage errors: Typer's message, exit 2, never a traceback ---------------------------------------
def assert_usage_error(code: int, out: str, err: str, expected: str) -> None:
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", out + err).split())  # Typer's message, out of its rich box
    assert expected in text, text  # a bare command prints its help (stdout), the rest stderr


@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=LEAF_IDS)
def test_unknown_option_of_every_command(cli, path):
    assert_usage_error(*cli(*path, "--nosuch"), "No such option")


@pytest.mark.parametrize("args, expected", [
    ((), "Usage"),
    (("nosuch",), "No such command"),
    (("lut",), "Usage"),
    (("lut", "nosuch"), "No such command"),
    (("search", "--latency", "1ms", "--seed", "abc"), "Invalid value for '--seed'"),
    (("export", "--format", "coreml"), "'coreml' is not one of"),
    (("export",), "Missing option '--format'"),
    (("profile", "--stat", "p99"), "'p99' is not one of"),
    (("subnet", "convert", "x.json", "--to", "pb"), "'pb' is not one of"),
    (("train", "--from-scratch", "huge"), "'huge' is not one of"),
    (("predictor", "dataset", "--dataset", "mnist"), "'mnist' is not one of"),
    (("lut", "export", "t", "--out", "o", "--stat", "p10"), "'p10' is not one of"),
    (("benchmark", "--sessions", "three"), "Invalid value for '--sessions'"),
    (("latency", "predict"), "Missing argument"),
    (("export", "-s"), "requires an argument"),
])
def test_usage_errors(cli, args, expected):
    assert_usage_error(*cli(*args), expected)


def test_library_errors_are_one_red_line(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))  # a data folder nothing was exported into
    code, out, err = cli("search")
    assert code == 2 and out == ""
    one_error_line(err, "give at least one budget")
    code, _, err = cli("benchmark")  # nothing exported in this data folder yet
    assert code == 2
    one_error_line(err, "nothing has been exported yet")


def test_typed_errors_where_there_were_value_errors(tmp_path):
    import numpy as np

    from ofa_deploy.errors import ExportError, FormatError, OfaDeployError
    from ofa_deploy.export.verify import compare
    from ofa_deploy.nn.shipped import ShippedSupernetMissing
    from ofa_deploy.train.report import scratch_results

    with pytest.raises(ExportError, match="logit shapes differ"):
        compare(np.zeros((2, 3)), np.zeros((2, 4)))
    (tmp_path / "log.jsonl").write_text("")
    with pytest.raises(FormatError, match="not a finished"):
        scratch_results(tmp_path)
    assert issubclass(ShippedSupernetMissing, OfaDeployError) and issubclass(ShippedSupernetMissing,
                                                                              FileNotFoundError)


def test_version(cli):
    from importlib import metadata

    import ofa_deploy

    code, out, _ = cli("--version")
    assert code == 0 and out == version_text() + "\n"
    try:
        expected = metadata.version("ofa-deploy")
    except metadata.PackageNotFoundError:
        expected = ofa_deploy.__version__
    assert out == f"ofa-deploy {expected}\n"


def test_completion_is_on(cli):
    code, out, _ = cli("--help")
    assert code == 0 and "--install-completion" in out and "--version" in out


# ---- strict JSON ---------------------------------------------------------------------------------------
def test_json_text_is_strict():
    import numpy as np

    doc = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": np.float64("nan"), "d": np.arange(3),
           "e": Path("/x"), 3: np.int64(4)}
    assert strict_json(json_text(doc)) == {"a": None, "b": [None, None, 1.5], "c": None, "d": [0, 1, 2],
                                           "e": "/x", "3": 4}


@pytest.fixture
def tiny_table(tmp_path):
    """A table of the w1.0 space at r=128 whose rows have NaN std (one sample each)."""
    from support.tables import synthetic_table

    from ofa_deploy.latency import LatencyTable, Row

    spec = official_space(1.0)
    rows = list(synthetic_table(spec, [128]).rows)
    rows[:5] = [Row(r.key, r.resolution, 1, r.mean, r.median, math.nan, r.p10, r.p90) for r in rows[:5]]
    return LatencyTable(spec, rows, {"device": "cpu"}).save(tmp_path / "table"), spec


@pytest.fixture
def w10_subnet(tmp_path):
    arch = Arch((3, 5, 7, 3) * 5, (3, 4, 6, 4) * 5, (2, 3, 4, 3, 2), 128)
    return save_subnet(Subnet(official_space(1.0), arch), tmp_path / "s.json")


def json_commands(tmp_path, table, subnet):
    from ofa_deploy.predictor import default_predictor_path

    official = tmp_path / "official"
    return {
        "subnet show": ["subnet", "show", subnet],
        "subnet convert": ["subnet", "convert", subnet, "--to", "net-config", "-o", tmp_path / "n" / "net.config"],
        "lut show": ["lut", "show", table, "-r", "128"],
        "lut export": ["lut", "export", table, "-o", official],
        "lut import": ["lut", "import", official, "--device", "phone", "--width", "1.0", "-o", tmp_path / "imp"],
        "latency predict": ["latency", "predict", subnet, "-t", table, "--breakdown"],
        "search": ["search", "--supernet", "ofa-mbv3-w1.0", "--flops", "300M", "--params", "9M", "-p",
                   _w10_predictor(tmp_path), "-o", tmp_path / "found.json"],
        "predictor show": ["predictor", "show", default_predictor_path()],
        "predictor import": ["predictor", "import", REFERENCE / "ofa" / "acc_predictor.pth", "-o", tmp_path / "o.npz"],
    }


def _w10_predictor(tmp_path: Path) -> Path:
    """A small random MLP predictor of the (1000-class) w1.0 space: search needs one of the searched space."""
    import numpy as np

    from ofa_deploy.predictor import MLP, OneHotEncoding, Predictor

    spec = official_space(1.0)
    enc = OneHotEncoding.for_space(spec)
    rng = np.random.default_rng(0)
    mlp = MLP([rng.normal(size=(8, enc.n_features)) * 0.05, rng.normal(size=(1, 8)) * 0.05],
              [np.zeros(8), np.full(1, 0.7)])
    return Predictor(spec, enc, mlp, (128, 144, 160), meta={"name": "test"}).save(tmp_path / "p.npz")


@pytest.mark.parametrize("name", ["subnet show", "subnet convert", "lut show", "lut export", "lut import",
                                  "latency predict", "search", "predictor show", "predictor import"])
def test_json_output_is_strict(cli, tmp_path, tiny_table, w10_subnet, name):
    table, _ = tiny_table
    cmds = json_commands(tmp_path, table, w10_subnet)
    if name == "predictor import":
        need_shared(REFERENCE / "ofa" / "acc_predictor.pth")
    if name == "lut import":  # needs the official files `lut export` writes
        assert cli(*cmds["lut export"])[0] == 0
    code, out, err = cli(*cmds[name], "--json")
    assert code == 0, err
    doc = strict_json(out)
    assert isinstance(doc, dict) and doc
    if name == "lut show":
        assert any(r["std"] is None for r in doc["rows"])  # NaN became null


# ---- hidden aliases (one release) -------------------------------------------------------------------
def test_old_export_names_still_work_hidden(cli, w10_subnet, tmp_path):
    code, out, _ = cli("export", "--help")
    assert code == 0 and "--checkpoint" not in out and "--supernet" in out
    for old in ("--checkpoint", "-c", "-s"):  # -s is --supernet now (it was --subnet in export)
        code, _, err = cli("export", "--format", "onnx", "--subnet", w10_subnet, old, tmp_path / "nope.pt")
        assert code == 2 and "no such checkpoint file" in err, (old, err)
    code, _, err = cli("export", "--format", "onnx", "--subnet", w10_subnet, "-n", "0")
    assert code == 2 and "--verify-images must be at least 1" in err and "-n is deprecated" in err
    code, _, err = cli("export", "--format", "onnx", "--supernet", "a.pt", "--checkpoint", "b.pt")
    assert code == 2 and "give only --supernet" in err


def test_old_train_recipe_short_name(cli, tmp_path):
    code, out, _ = cli("train", "--help")
    assert code == 0 and " -r" not in out
    code, _, err = cli("train", "-r", "no-such-recipe", "-o", tmp_path / "run")
    assert code == 2 and "no-such-recipe" in err and "Traceback" not in err


# ---- the subnet file that names no space ----------------------------------------------------------------
@pytest.fixture(scope="module")
def w10_official_checkpoint(tmp_path_factory):
    """An official-format checkpoint (`{"state_dict": ...}`, no space recorded) of a w1.0 space."""
    import torch

    from ofa_deploy.nn import OFAMobileNetV3
    from ofa_deploy.space import SpaceSpec

    torch.manual_seed(0)
    net = OFAMobileNetV3(SpaceSpec(width_mult=1.0, n_classes=10))
    path = tmp_path_factory.mktemp("w10") / "ofa_mbv3_w1.0.pth"
    torch.save({"state_dict": net.state_dict()}, path)
    return path


def test_official_arch_dict_takes_the_supernets_space(cli, tmp_path, w10_official_checkpoint):
    from ofa_deploy.space.checkpoint import checkpoint_space

    assert checkpoint_space(w10_official_checkpoint).width_mult == 1.0
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "image_size": 128}))
    out = tmp_path / "m.onnx"
    code, stdout, err = cli("export", "--supernet", w10_official_checkpoint, "--subnet", arch, "--format", "onnx",
                            "--verify-images", "4", "--no-recalibrate", "-o", out, "--json")
    assert code == 0, err
    report = strict_json(stdout)
    assert report["passed"] and report["subnet"]["space"]["width_mult"] == 1.0
    assert out.exists()


def test_export_cuts_from_the_supernet_the_search_used(cli, tmp_path, monkeypatch):
    """Another checkpoint of the shipped space: `search --supernet C` records C, and a bare
    `export` cuts the subnet from C, not from the shipped supernet (same space, other weights)."""
    import torch

    from ofa_deploy.nn import OFAMobileNetV3, save_supernet
    from ofa_deploy.nn.shipped import shipped_spec

    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(1)
    other = save_supernet(OFAMobileNetV3(shipped_spec()), tmp_path / "other.pt", meta={"recipe": "demo-fmnist"})
    code, out, err = cli("search", "--supernet", other, "--flops", "5M", "--json")
    assert code == 0, err
    assert strict_json(out)["supernet"]["checkpoint"] == str(other.resolve())
    code, out, err = cli("export", "--format", "onnx", "--verify-images", "20", "--no-recalibrate", "--json")
    assert code == 0, err
    assert strict_json(out)["supernet"]["path"] == str(other.resolve())
    assert f"supernet {other.resolve()}: the one the subnet was searched for" in err


# ---- the design card, verbatim ---------------------------------------------------------------------
NEXT = re.compile(r"^next: (ofa-deploy .*)$", re.MULTILINE)


def next_command(out: str) -> list[str]:
    m = NEXT.search(out)
    assert m, out
    return m.group(1).split()[1:]


def test_design_card_flow(cli, tmp_path, monkeypatch):
    """`ofa-deploy profile --device cpu` -> `ofa-deploy search --latency X` (the budget profile
    suggests; no --device) -> `ofa-deploy export --format onnx` -> `ofa-deploy benchmark`.
    Fast options only where they change timing, never the inputs: one resolution, one session."""
    home = tmp_path / "home"
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(home))
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))  # no shipped table to fall back on
    monkeypatch.chdir(tmp_path)

    code, out, err = cli("profile", "--device", "cpu", "--resolutions", "24", "--sessions", "1",
                         "--max-runs", "3", "--subnets", "12")
    assert code == 0, err
    profile = json.loads((home / "records" / "last_profile.json").read_text())
    assert profile["device"] == "cpu" and Path(profile["table"], "meta.yaml").exists()
    search = next_command(out)
    assert search[:2] == ["search", "--latency"] and len(search) == 3

    code, out, err = cli(*search)
    assert code == 0, err
    assert f"device cpu and its table {profile['table']}: the last `ofa-deploy profile`'s" in err
    record = json.loads((home / "records" / "last_search.json").read_text())
    subnet = json.loads(Path(record["path"]).read_text())
    assert record["device"] == "cpu" and subnet["meta"]["latency_table"]["path"] == profile["table"]
    assert subnet["meta"]["search"]["resolutions"] == [24]  # the only resolution profiled
    assert record["supernet"] and Path(record["supernet"]).name == "supernet.pt"  # the predictor's own
    export = next_command(out)
    assert export == ["export", "--format", "tflite"]

    code, out, err = cli("export", "--format", "onnx", "--verify-images", "100")
    assert code == 0, err
    exported = json.loads((home / "records" / "last_export.json").read_text())
    assert exported["path"].endswith(".onnx") and Path(exported["path"]).exists()
    assert exported["device"] == "cpu" and exported["subnet"] == record["path"]
    assert next_command(out) == ["benchmark"]

    code, out, err = cli("benchmark", "--sessions", "1", "--max-runs", "20", "--json")
    assert code == 0, err
    result = strict_json(out)
    assert result["file"] == exported["path"] and result["device"] == "cpu"
    assert result["budget_ms"] == pytest.approx(float(search[2].removesuffix("ms")))
    assert result["predicted_ms"] is not None and result["measured_ms"]["count"] >= 20
    assert result["prediction"]["path"] == profile["table"]  # predicted with the table the search used
    assert f"latency table {profile['table']}: the one the search used" in err

    # A changed file is not benchmarked as if it were the export.
    with open(exported["path"], "ab") as f:
        f.write(b"\0")
    code, _, err = cli("benchmark")
    assert code == 2
    one_error_line(err, "changed since `ofa-deploy export` wrote it")


def test_search_without_profile_uses_cpu(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    # --no-verify: what is tested is the default device; measuring the result against the shipped
    # table's budget would tie the test to this machine's speed (verification: test_shipped, test_honest_budget)
    code, out, err = cli("search", "--latency", "0.4ms", "--no-verify", "--json")
    assert code == 0, err
    assert "device cpu: the default" in err and strict_json(out)["device"] == "cpu"
    assert "next:" not in out  # not in --json mode


def test_train_json(cli, tmp_path):
    """`train --json`: strict JSON on stdout (progress on stderr), stopped or finished."""
    out = tmp_path / "run"
    code, stdout, err = cli("train", "--recipe", "tiny-synthetic", "--from-scratch", "smallest", "-o", out,
                            "--stop-after-epochs", "1", "--json")
    assert code == 0, err
    assert strict_json(stdout) == {"stopped": True, "phase": strict_json(stdout)["phase"], "epoch_in_phase": 1,
                                   "out": str(out)}
    code, stdout, err = cli("train", "--recipe", "tiny-synthetic", "--from-scratch", "smallest", "-o", out,
                            "--resume", "--json")
    assert code == 0, err
    doc = strict_json(stdout)
    assert doc["stopped"] is False and Path(doc["supernet"]).exists() and doc["final"]


def test_profile_and_validate_json(cli, tmp_path):
    table = tmp_path / "table"
    code, out, err = cli("profile", "-d", "cpu", "-r", "24", "--sessions", "1", "--max-runs", "3", "-o", table,
                         "--subnets", "12", "--json")
    assert code == 0, err
    doc = strict_json(out)
    assert doc["folder"] == str(table) and doc["resolutions"] == [24] and doc["calibration"] is None
    assert "next:" not in out
    code, out, err = cli("latency", "validate", "-t", table, "-r", "24", "-n", "4", "--sessions", "1",
                         "--calibrate", "-o", tmp_path / "v", "--json")
    assert code == 0, err
    doc = strict_json(out)
    assert {"a", "b"} <= set(doc["calibration"]) and all(Path(f).exists() for f in doc["files"])
