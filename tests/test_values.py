"""No bad value slips through: every numeric option, recipe field and table row is checked at the
boundary (one red line, exit code 2, nothing written), and a diverged training run stops with an
error while its last good checkpoint stays loadable and finite."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest
import yaml

from ofa_deploy import checks
from ofa_deploy.errors import BadValueError, FormatError, LatencyTableError, SpaceError, TrainingDiverged
from ofa_deploy.space import SpaceSpec, parse_resolutions

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "latency_tables" / "cpu" / "w0.5_c10_in1"  # the shipped table of the demo space


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """User data goes to a fresh folder, so that "nothing written" can be checked there too."""
    folder = tmp_path / "home"
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(folder))
    return folder


def refused(cli, home: Path, *args, match: str, out: Path | None = None) -> str:
    """Run the command; it must exit 2 with exactly one line on stderr matching `match`, no
    traceback, and write nothing (`out` absent, no user data)."""
    code, stdout, err = cli(*args)
    lines = err.strip().splitlines()
    assert code == 2, (code, stdout, err)
    assert "Traceback" not in err + stdout
    assert len(lines) == 1, err
    assert re.search(match, lines[0]), lines[0]
    if out is not None:
        assert not out.exists(), f"{out} was written"
    assert not home.exists() or not any(home.rglob("*")), f"user data written: {list(home.rglob('*'))}"
    return lines[0]


# ---- the validators ---------------------------------------------------------------------------
def test_validators_return_the_value_or_name_the_option_and_range():
    assert checks.integer(3, "--n", 1, 5) == 3 and checks.integer(4.0, "--n") == 4
    assert checks.number("1e-3", "lr", 0, lo_open=True) == 0.001  # YAML 1.1 reads 1e-3 as a string
    assert checks.count(None, "--val-images", 10, optional=True) is None
    assert checks.threads(None) is None and checks.threads(2) == 2
    assert checks.seed(2**32 - 1) == 2**32 - 1
    assert checks.fraction(0, "--holdout", zero=True) == 0
    cases = [
        (lambda: checks.integer(0, "--samples", 1, 10), "--samples must be at least 1 and at most 10, got 0"),
        (lambda: checks.integer(11, "--samples", 1, 10), "at most 10, got 11"),
        (lambda: checks.integer(2.5, "--samples", 1), "--samples must be an integer at least 1, got 2.5"),
        (lambda: checks.integer(True, "batch_size", 1), "must be an integer"),
        (lambda: checks.integer(None, "--n"), "must be an integer, got None"),
        (lambda: checks.number(math.nan, "lr", 0, lo_open=True), "lr must be a finite number > 0, got nan"),
        (lambda: checks.number(math.inf, "--width", 0, 10, lo_open=True), r"in \(0, 10\], got inf"),
        (lambda: checks.number("abc", "kd", 0), "kd must be a finite number >= 0, got 'abc'"),
        (lambda: checks.positive(0, "--width"), "> 0, got 0"),
        (lambda: checks.fraction(1, "--holdout", zero=True), r"in \[0, 1\), got 1"),
        (lambda: checks.fraction(0, "p"), r"in \(0, 1\), got 0"),
        (lambda: checks.seed(-1), "--seed must be at least 0 and at most 4294967295, got -1"),
        (lambda: checks.seed(2**32), "got 4294967296"),
        (lambda: checks.threads(0), "--threads must be at least 1"),
        (lambda: checks.protocol_options(0, 10), "--sessions"),
        (lambda: checks.protocol_options(1, 0), "--max-runs"),
        (lambda: checks.space_options(classes=0), "--classes must be at least 1"),
        (lambda: checks.space_options(in_channels=0), "--in-channels must be at least 1"),
        (lambda: checks.space_options(width=math.nan), "--width must be a finite number"),
    ]
    for call, message in cases:
        with pytest.raises(BadValueError, match=message):
            call()


def test_a_space_refuses_a_nan_width():
    with pytest.raises(SpaceError, match="width_mult must be a finite number > 0, got nan"):
        SpaceSpec(width_mult=math.nan)


# ---- the resolution grammar -------------------------------------------------------------------
DEMO = SpaceSpec(width_mult=0.5, n_classes=10, in_channels=1, resolutions=(24, 28, 32))


@pytest.mark.parametrize("text, expected", [(None, [32]), ("all", [24, 28, 32]), ("ALL", [24, 28, 32]),
                                            ("24,32", [24, 32]), ("32, 24,32", [24, 32]), ("24..32", [24, 28, 32]),
                                            ("24..32:8", [24, 32]), ("28..28", [28]), ("24..28,32", [24, 28, 32])])
def test_resolution_grammar(text, expected):
    assert parse_resolutions(text, DEMO) == expected


@pytest.mark.parametrize("text, message", [
    ("", "--resolutions is empty"), (" ", "--resolutions is empty"), (",", "has an empty entry"),
    ("24,,32", "has an empty entry"), ("32..24", "range 32..24 runs backwards; write 24..32"),
    ("24..32:0", "step of 24..32:0 must be a positive integer, got 0"), ("24..32:-4", "got -4"),
    ("24.5", "'24.5' in '24.5' is not an integer"), ("24..x", "'x' .* is not an integer"),
    ("24..32:", "'' .* is not an integer"), ("40", "resolution 40 is not in the space"),
    ("20..32", "range 20..32 ends at 20, which is not in the space"), ("24..36", "ends at 36"),
])
def test_resolution_grammar_refuses_with_one_clear_line(text, message):
    with pytest.raises(BadValueError, match=message) as e:
        parse_resolutions(text, DEMO)
    assert "\n" not in str(e.value)


# ---- item 7: options, through the CLI ---------------------------------------------------------
PROFILE_CASES = [
    (["-r", "32..24"], "runs backwards"),
    (["-r", ","], "empty entry"),
    (["-r", "24..32:0"], "step of 24..32:0 must be a positive integer"),
    (["-r", "24..32:-4"], "step of 24..32:-4 must be a positive integer"),
    (["-r", "24.5"], "not an integer"),
    (["-r", "40"], "resolution 40 is not in the space"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--threads", "-1"], "--threads must be at least 1"),
    (["--classes", "0"], "--classes must be at least 1"),
    (["--in-channels", "0"], "--in-channels must be at least 1"),
    (["--width", "nan"], "--width must be a finite number"),
    (["--width", "inf"], "--width must be a finite number"),
    (["--width", "0"], "--width must be a finite number"),
    (["--width", "-1"], "--width must be a finite number"),
    (["--seed", "-1"], "--seed must be at least 0"),
    (["--seed", str(2**32)], "at most 4294967295"),
    (["--sessions", "0"], "--sessions must be at least 1"),
    (["--max-runs", "0"], "--max-runs must be at least 1"),
    (["--subnets", "0"], "--subnets must be at least 1"),
]


@pytest.mark.parametrize("args, message", PROFILE_CASES, ids=[" ".join(a) for a, _ in PROFILE_CASES])
def test_profile_refuses_bad_values(cli, home, tmp_path, args, message):
    out = tmp_path / "table"
    refused(cli, home, "profile", *args, "--out", out, match=message, out=out)


def test_a_thread_count_of_none_keeps_the_descriptors_and_zero_is_refused():
    from ofa_deploy.devices import load_device
    from ofa_deploy.devices.local import make_backend

    desc = load_device("cpu")
    assert make_backend(desc, "onnxruntime", None).threads == desc.threads
    assert make_backend(desc, "onnxruntime", 2).threads == 2
    for bad in (0, -1):
        with pytest.raises(BadValueError, match="--threads"):
            make_backend(desc, "onnxruntime", bad)


@pytest.fixture
def table(tmp_path) -> Path:
    if not (TABLE / "meta.yaml").exists():
        pytest.skip(f"{TABLE} is absent")
    folder = tmp_path / "table"
    shutil.copytree(TABLE, folder)
    return folder


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


VALIDATE_CASES = [
    (["--samples", "1000000000000"], "--samples must be at least 2 and at most 100000"),
    (["--samples", "1"], "--samples must be at least 2"),
    (["--samples", "3", "--calibrate"], "--samples must be at least 4"),
    (["--seed", "-1"], "--seed must be at least 0"),
    (["--sessions", "0"], "--sessions must be at least 1"),
    (["-r", "32..24"], "runs backwards"),
    (["-r", ""], "--resolutions is empty"),
    (["--width", "nan"], "--width"),
]


@pytest.mark.parametrize("args, message", VALIDATE_CASES, ids=[" ".join(a) for a, _ in VALIDATE_CASES])
def test_latency_validate_refuses_bad_values(cli, home, tmp_path, table, args, message):
    before = _listing(table)
    out = tmp_path / "validation"
    refused(cli, home, "latency", "validate", "--table", table, "--out", out, *args, match=message, out=out)
    assert _listing(table) == before


SEARCH_CASES = [
    (["--latency", "nan"], "latency budget 'nan' must be a finite number > 0"),
    (["--latency", "-5ms"], "latency budget '-5ms' must be a finite number > 0"),
    (["--latency", "0"], "latency budget '0' must be"),
    (["--latency", "inf"], "latency budget 'inf' must be"),
    (["--latency", "1e400"], "latency budget '1e400' must be"),
    (["--latency", "5parsecs"], "cannot read latency '5parsecs'"),
    (["--latency", "10ms,"], "empty entry"),
    (["--flops", "nan"], "FLOPs budget 'nan' must be"),
    (["--flops", "-3M"], "FLOPs budget '-3M' must be"),
    (["--flops", "0"], "FLOPs budget '0' must be"),
    (["--flops", "3Q"], "cannot read FLOPs"),
    (["--params", "inf"], "parameter budget 'inf' must be"),
    (["--params", "-1M"], "parameter budget '-1M' must be"),
    (["--pareto", "--points", "0"], "--points must be at least 1"),
    (["--pareto", "--points", "100000000"], "--points must be at least 1 and at most 1000"),
    (["--flops", "300M", "--seed", "-1"], "--seed must be at least 0"),
    (["--flops", "300M", "--population", "1"], "--population must be at least 4"),
    (["--flops", "300M", "--generations", "0"], "--generations must be at least 1"),
]


@pytest.mark.parametrize("args, message", SEARCH_CASES, ids=[" ".join(a) for a, _ in SEARCH_CASES])
def test_search_refuses_bad_values(cli, home, tmp_path, table, args, message):
    out = tmp_path / "found"
    refused(cli, home, "search", "--table", table, *args, "--out", out, match=message, out=out)


@pytest.mark.parametrize("column, value", [("median", "-125.0"), ("median", "0"), ("mean", "-1"), ("mean", "nan"),
                                           ("median", "inf"), ("std", "-0.5"), ("p10", "-0.1")])
def test_a_table_row_with_a_latency_that_is_not_finite_and_positive_is_refused_on_load(
        cli, home, tmp_path, table, column, value):
    csv = table / "table.csv"
    lines = csv.read_text().splitlines()
    header = lines[0].split(",")
    fields = lines[5].split(",")
    fields[header.index(column)] = value
    lines[5] = ",".join(fields)
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(LatencyTableError, match=rf"line 6: row {fields[0]} at resolution {fields[1]} has "
                                                 rf"{column} .* must be a finite number > 0"):
        from ofa_deploy.latency import LatencyTable

        LatencyTable.load(table)
    out = tmp_path / "found.json"
    line = refused(cli, home, "search", "--table", table, "--latency", "20ms", "--out", out,
                   match=rf"row {fields[0]}", out=out)
    assert "line 6" in line


def test_a_table_row_without_the_statistic_the_table_predicts_with_is_refused(table):
    from ofa_deploy.latency import LatencyTable

    csv = table / "table.csv"
    lines = csv.read_text().splitlines()
    fields = lines[3].split(",")
    fields[4] = ""  # the median, which this table predicts with
    lines[3] = ",".join(fields)
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(LatencyTableError, match=f"row {fields[0]} at resolution {fields[1]} has no median"):
        LatencyTable.load(table)


def test_official_tables_with_a_negative_mean_are_refused(tmp_path):
    from ofa_deploy.latency import import_official
    from ofa_deploy.latency.blocks import resolution_keys

    spec = SpaceSpec(width_mult=0.5, n_classes=10, in_channels=1, resolutions=(24,))
    keys = resolution_keys(spec, 24).distinct()
    data = {k: {"count": 5, "mean": 0.1, "std": 0.01} for k in keys}
    data[keys[2]]["mean"] = -3.0
    path = tmp_path / "24_lookup_table.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LatencyTableError, match=f"row {keys[2]} at resolution 24 has mean -3.0"):
        import_official([path], spec)


def test_the_shipped_tables_pass_the_row_checks():
    from ofa_deploy.latency import LatencyTable

    folders = sorted(p.parent for p in (REPO / "latency_tables").rglob("meta.yaml"))
    assert folders
    for folder in folders:
        assert len(LatencyTable.load(folder)) > 0


PREDICTOR_CASES = [
    (["dataset", "--samples", "1000000000000"], "--samples must be at least 1 and at most 100000"),
    (["dataset", "--samples", "0"], "--samples must be at least 1"),
    (["dataset", "--seed", "-1"], "--seed must be at least 0"),
    (["dataset", "--threads", "0"], "--threads must be at least 1"),
    (["dataset", "--threads", "-1"], "--threads must be at least 1"),
    (["dataset", "--val-images", "0"], "--val-images must be at least 1"),
    (["dataset", "--bn-images", "0"], "--bn-images must be at least 1"),
    (["fit", "DS", "--holdout", "1"], r"--holdout must be a finite number in \[0, 1\)"),
    (["fit", "DS", "--holdout", "-0.1"], "--holdout"),
    (["fit", "DS", "--holdout", "nan"], "--holdout"),
    (["fit", "DS", "--alpha", "nan"], "--alpha must be a finite number >= 0"),
    (["fit", "DS", "--alpha", "-1"], "--alpha"),
    (["fit", "DS", "--hidden", "0,4"], "--hidden: every layer width must be at least 1"),
    (["fit", "DS", "--hidden", "4,x"], "--hidden takes comma-separated layer widths"),
    (["fit", "DS", "--seed", "-3"], "--seed must be at least 0"),
]


@pytest.mark.parametrize("args, message", PREDICTOR_CASES, ids=[" ".join(a) for a, _ in PREDICTOR_CASES])
def test_predictor_commands_refuse_bad_values(cli, home, tmp_path, args, message):
    from ofa_deploy.nn.shipped import ShippedSupernetMissing, shipped_supernet_path

    try:
        shipped_supernet_path()
    except ShippedSupernetMissing:
        pytest.skip("the shipped demo supernet is absent")
    out = tmp_path / ("dataset" if args[0] == "dataset" else "p.npz")
    args = [str(tmp_path / "missing-dataset") if a == "DS" else a for a in args]
    refused(cli, home, "predictor", *args, "--out", out, match=message, out=out)


@pytest.mark.parametrize("args, message", [
    (["--verify-images", "0"], "--verify-images must be at least 1"),
    (["--verify-images", "100000000000"], "--verify-images must be at least 1 and at most 10000"),
])
def test_export_refuses_bad_image_counts(cli, home, tmp_path, args, message):
    out = tmp_path / "m.onnx"
    refused(cli, home, "export", "--format", "onnx", *args, "--out", out, match=message, out=out)


@pytest.mark.parametrize("args, message", [
    (["--sessions", "0"], "--sessions must be at least 1"), (["--max-runs", "-1"], "--max-runs must be at least 1"),
    (["--threads", "0"], "--threads must be at least 1"), (["--threads", "-1"], "--threads must be at least 1"),
])
def test_benchmark_refuses_bad_values(cli, home, tmp_path, args, message):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")  # never opened: the numbers are checked first
    refused(cli, home, "benchmark", model, *args, match=message)


@pytest.mark.parametrize("resolution", ["0", "-1", "5000"])
def test_subnet_and_lut_show_refuse_bad_resolutions(cli, home, tmp_path, table, resolution):
    refused(cli, home, "subnet", "show", tmp_path / "any.json", "--resolution", resolution, match="--resolution")
    refused(cli, home, "lut", "show", table, "--resolution", resolution, match="--resolution")


def test_train_refuses_bad_threads(cli, home, tmp_path):
    out = tmp_path / "run"
    for value in ("0", "-1"):
        refused(cli, home, "train", "--recipe", "tiny-synthetic", "--threads", value, "--out", out,
                match="--threads must be at least 1", out=out)


# ---- item 6: recipes -----------------------------------------------------------------------
def _tiny_raw() -> dict:
    from ofa_deploy.train import load_recipe

    return json.loads(json.dumps(load_recipe("tiny-synthetic").raw))


def _phase0(**changes) -> dict:
    raw = _tiny_raw()
    raw["phases"][0].update(changes)
    return raw


RECIPE_CASES = [
    ("lr nan", _phase0(lr=math.nan), "phase 'full' lr must be a finite number > 0, got nan"),
    ("lr string nan", _phase0(lr="nan"), "phase 'full' lr must be a finite number > 0"),
    ("lr 0", _phase0(lr=0), "phase 'full' lr must be a finite number > 0, got 0"),
    ("epochs -2", _phase0(epochs=-2), "phase 'full' epochs must be a finite number > 0, got -2"),
    ("epochs inf", _phase0(epochs=math.inf), "phase 'full' epochs"),
    ("batch_size 0", {**_tiny_raw(), "batch_size": 0}, "batch_size must be at least 1"),
    ("batch_size 2.5", {**_tiny_raw(), "batch_size": 2.5}, "batch_size must be an integer"),
    ("batch_size true", {**_tiny_raw(), "batch_size": True}, "batch_size must be an integer"),
    ("seed -1", {**_tiny_raw(), "seed": -1}, "seed must be at least 0"),
    ("bn_images 0", {**_tiny_raw(), "bn_images": 0}, "bn_images must be at least 1"),
    ("eval_images 0", {**_tiny_raw(), "eval_images": 0}, "eval_images must be at least 1"),
    ("steps_per_epoch 0", {**_tiny_raw(), "steps_per_epoch": 0}, "steps_per_epoch must be at least 1"),
    ("momentum 1", {**_tiny_raw(), "optimizer": {"momentum": 1.0}}, r"optimizer.momentum .* in \[0, 1\)"),
    ("weight_decay -1", {**_tiny_raw(), "optimizer": {"weight_decay": -1}}, "optimizer.weight_decay"),
    ("label_smoothing nan", {**_tiny_raw(), "optimizer": {"label_smoothing": math.nan}},
     "optimizer.label_smoothing"),
    ("nesterov string", {**_tiny_raw(), "optimizer": {"nesterov": "yes"}}, "optimizer.nesterov must be true or false"),
    ("unknown optimizer field", {**_tiny_raw(), "optimizer": {"learning_rate": 0.1}}, "unknown optimizer field"),
    ("unknown top field", {**_tiny_raw(), "learning_rate": 0.1}, r"unknown recipe field\(s\) \['learning_rate'\]"),
    ("unknown phase field", _phase0(lr_max=1), r"unknown phases\[0\] field"),
    ("val_size 0", {**_tiny_raw(), "data": {"kind": "synthetic", "val_size": 0}}, "data.val_size must be at least 1"),
    ("no phases", {**_tiny_raw(), "phases": []}, "phases must be a non-empty list"),
    ("phases not a list", {**_tiny_raw(), "phases": {"name": "full"}}, "phases must be a non-empty list"),
    ("phase without lr", {**_tiny_raw(), "phases": [{"name": "full", "epochs": 1}]}, r"phases\[0\] has no 'lr'"),
    ("ks empty", _phase0(ks=[]), "phase 'full' ks must be a non-empty list"),
    ("ks scalar", _phase0(ks=5), "phase 'full' ks must be a non-empty list"),
    ("ks outside", _phase0(ks=[9]), r"phase 'full' ks \[9\] not in the space's \[3, 5\]"),
    ("subnets_per_step 0", _phase0(subnets_per_step=0), "phase 'full' subnets_per_step must be at least 1"),
    ("kd -1", {**_tiny_raw(), "phases": [*_tiny_raw()["phases"][:1], {**_tiny_raw()["phases"][1], "kd": -1}]},
     "phase 'kernel' kd must be a finite number >= 0"),
    ("kd in the first phase", _phase0(kd=1.0), "phase 'full' kd must be 0"),
    ("sort_channels 5", {**_tiny_raw(), "phases": [*_tiny_raw()["phases"][:3],
                                                   {**_tiny_raw()["phases"][3], "sort_channels": 5}]},
     "phase 'expand' sort_channels must be at least 0 and at most 1"),
    ("warmup_steps -1", _phase0(warmup_steps=-1), "phase 'full' warmup_steps must be at least 0"),
    ("include_largest string", _phase0(include_largest="no"), "phase 'full' include_largest must be true or false"),
    ("duplicate phase names", {**_tiny_raw(), "phases": [_tiny_raw()["phases"][0]] * 2}, "phase names must differ"),
    ("space width nan", {**_tiny_raw(), "space": {**_tiny_raw()["space"], "width_mult": math.nan}},
     "space: width_mult must be a finite number > 0, got nan"),
]


@pytest.mark.parametrize("raw, message", [c[1:] for c in RECIPE_CASES], ids=[c[0] for c in RECIPE_CASES])
def test_recipe_fields_are_checked_on_load(raw, message):
    from ofa_deploy.train.recipe import parse_recipe

    with pytest.raises(FormatError, match=f"^my.yaml: {message}"):
        parse_recipe(raw, "my.yaml")


def test_shipped_recipes_pass_the_checks():
    from ofa_deploy.train import load_recipe
    from ofa_deploy.train.recipe import recipe_names

    for name in recipe_names():
        assert load_recipe(name).phases


@pytest.mark.parametrize("field, value, message", [
    ("lr", ".nan", "phase 'full' lr must be a finite number > 0, got nan"),
    ("lr", "nan", "phase 'full' lr must be a finite number > 0, got nan"),
    ("epochs", "-2", "phase 'full' epochs must be a finite number > 0, got -2"),
    ("batch_size", "0", "batch_size must be at least 1"),
])
def test_train_refuses_a_recipe_with_a_bad_field_naming_the_file(cli, home, tmp_path, field, value, message):
    raw = _tiny_raw()
    text = yaml.safe_dump(raw)
    path = tmp_path / "bad.yaml"
    if field == "batch_size":
        text = text.replace("batch_size: 32", f"batch_size: {value}")
    else:
        raw["phases"][0][field] = "@@"
        text = yaml.safe_dump(raw).replace("'@@'", value)
    path.write_text(text)
    out = tmp_path / "run"
    line = refused(cli, home, "train", "--recipe", path, "--out", out, match=message, out=out)
    assert str(path) in line


# ---- item 6: a diverged training run stops, its last good checkpoint intact -----------------------
def _finite_state(path: Path) -> dict:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    for name, t in state["model"].items():
        if t.is_floating_point():
            assert torch.isfinite(t).all(), f"{name} is not finite in {path}"
    return state


def _nan_lr_from(phase_name: str, monkeypatch) -> None:
    """Inject the divergence: from `phase_name` on, the learning rate is NaN (the recipe check
    refuses a NaN lr, so this is the only way to get one into a run)."""
    from ofa_deploy.train import progressive

    real = progressive.lr_at
    monkeypatch.setattr(progressive, "lr_at", lambda phase, step, total: math.nan if phase.name == phase_name
                        else real(phase, step, total))


def test_a_diverged_run_stops_and_keeps_its_last_good_checkpoint(tmp_path, monkeypatch):
    import torch

    from ofa_deploy.nn import OFAMobileNetV3
    from ofa_deploy.train import load_recipe
    from ofa_deploy.train.progressive import Trainer

    torch.set_num_threads(1)
    recipe = load_recipe("tiny-synthetic")
    _nan_lr_from("kernel", monkeypatch)
    trainer = Trainer(recipe, tmp_path)
    with pytest.raises(TrainingDiverged, match=r"training diverged: the loss is nan in phase 'kernel' .*epoch 1, "
                                               r"step 2\); the last good checkpoint .*state.pt \(after the start of "
                                               r"phase 'kernel'\) is kept"):
        trainer.run()
    # step 1's NaN-lr update made the weights NaN, step 2's loss showed it: the checkpoint on disk is
    # the one written at the end of phase 'full', finite
    state = _finite_state(tmp_path / "state.pt")
    assert (state["phase_idx"], state["epoch_in_phase"]) == (1, 0)
    OFAMobileNetV3(recipe.space).load_state_dict(state["model"])
    assert not (tmp_path / "supernet.pt").exists()
    events = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "diverged" and events[-1]["phase"] == "kernel"
    # resumable: without the fault, --resume finishes the run from the kept state
    monkeypatch.undo()
    resumed = Trainer(recipe, tmp_path)
    assert resumed.run(resume=True)["stopped"] is False
    assert all(torch.isfinite(p).all() for p in resumed.model.parameters())


def test_a_run_that_diverges_in_its_first_epoch_writes_no_checkpoint(tmp_path, monkeypatch):
    from ofa_deploy.train import load_recipe
    from ofa_deploy.train.progressive import Trainer

    _nan_lr_from("full", monkeypatch)
    with pytest.raises(TrainingDiverged, match="nothing was checkpointed"):
        Trainer(load_recipe("tiny-synthetic"), tmp_path).run()
    assert not (tmp_path / "state.pt").exists() and not (tmp_path / "supernet.pt").exists()


def test_non_finite_weights_at_an_epochs_end_are_never_checkpointed(tmp_path, monkeypatch):
    """A finite loss can come with an update that makes the weights infinite (the last step of an
    epoch): the check before the save catches it."""
    import torch

    from ofa_deploy.train import load_recipe
    from ofa_deploy.train.progressive import Trainer

    trainer = Trainer(load_recipe("tiny-synthetic"), tmp_path)
    assert trainer.run(stop_after_epochs=1)["stopped"]
    good = (tmp_path / "state.pt").read_bytes()
    trainer = Trainer(load_recipe("tiny-synthetic"), tmp_path)
    real_step = trainer.train_step

    calls = []

    def poisoning_step(phase, rng, lr):
        loss = real_step(phase, rng, lr)
        calls.append(loss)
        if len(calls) == trainer.steps_per_epoch:  # the last step of the epoch, after a finite loss
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(math.inf)
        return loss

    trainer.train_step = poisoning_step
    with pytest.raises(TrainingDiverged, match="weights are no longer finite at the end of an epoch of phase 'full'"):
        trainer.run(resume=True)
    assert all(math.isfinite(v) for v in calls)
    assert (tmp_path / "state.pt").read_bytes() == good
    _finite_state(tmp_path / "state.pt")


def test_train_cli_exits_2_with_one_line_on_divergence(cli, home, tmp_path, monkeypatch):
    _nan_lr_from("kernel", monkeypatch)
    out = tmp_path / "run"
    code, stdout, err = cli("train", "--recipe", "tiny-synthetic", "--out", out)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err + stdout, err
    assert "training diverged" in lines[0] and "state.pt" in lines[0]
    assert not (out / "supernet.pt").exists() and not (out / "report.md").exists()
    _finite_state(out / "state.pt")


def test_a_nan_loss_is_refused_before_its_update(tmp_path):
    import numpy as np
    import torch

    from ofa_deploy.train import load_recipe
    from ofa_deploy.train.progressive import Trainer, make_optimizer

    recipe = load_recipe("tiny-synthetic")
    trainer = Trainer(recipe, tmp_path)
    trainer.optimizer = make_optimizer(trainer.model, recipe, 0.1)
    real = trainer.stream.next_batch
    trainer.stream.next_batch = lambda r: (torch.full_like(real(r)[0], math.nan), real(r)[1])
    before = {k: v.clone() for k, v in trainer.model.state_dict().items() if v.is_floating_point()}
    with pytest.raises(TrainingDiverged, match="the loss is nan in phase 'full' at lr 0.1"):
        trainer.train_step(recipe.phases[0], np.random.default_rng(0), 0.1)
    after = trainer.model.state_dict()
    params = {k for k, _ in trainer.model.named_parameters()}
    assert all(torch.equal(before[k], after[k]) for k in params)


@pytest.mark.parametrize("width", ["nan", "inf", "0", "-1.2"])
def test_predictor_import_refuses_a_bad_width(cli, home, tmp_path, width):
    out = tmp_path / "p.npz"
    refused(cli, home, "predictor", "import", tmp_path / "acc.pth", "--width", width, "--out", out,
            match="--width must be a finite number", out=out)


def test_train_refuses_stop_after_zero_epochs(cli, home, tmp_path):
    out = tmp_path / "run"
    refused(cli, home, "train", "--recipe", "tiny-synthetic", "--stop-after-epochs", "0", "--out", out,
            match="--stop-after-epochs must be at least 1", out=out)
