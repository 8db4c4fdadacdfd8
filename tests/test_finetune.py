"""`ofa-deploy finetune`: a searched subnet trained a few more epochs with KD from its supernet.

Small and real: a random-weight supernet of the tiny-synthetic space on the synthetic set (a few steps),
and an ImageNet-style folder of real JPEG files with a random-weight supernet in the official format
(w1.2, legacy key names). What is pinned: exact resume, torchrun, recipe checks, the checkpoint as a
deployable artefact (export takes it by default, verified, no recalibration), the records' chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from support.ports import free_port

from ofa_deploy import records
from ofa_deploy.errors import CheckpointError, FormatError
from ofa_deploy.nn import OFASupernet, save_supernet
from ofa_deploy.nn.finetuned import load_finetuned
from ofa_deploy.space import Subnet, middle_arch, save_subnet, smallest_arch
from ofa_deploy.space.spec import official_space
from ofa_deploy.train.finetune import FinetuneJob, FineTuner, official_name
from ofa_deploy.train.finetune_recipe import load_finetune_recipe, parse_finetune_recipe
from ofa_deploy.train.recipe import load_recipe, parse_recipe

RECIPE = {"kind": "finetune", "name": "finetune-tiny", "data": {"kind": "synthetic", "val_size": 128},
          "batch_size": 32, "steps_per_epoch": 3, "epochs": 3, "lr": 0.01, "kd_ratio": 1.0,
          "scratch": {"lr": 0.05}, "bn_images": 64, "eval_images": 64, "seed": 0}
SEARCH_META = {"latency_table": {"device": "cpu"}, "search": {"budget": {"latency_ms": 0.35}}}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(supernet.pt, subnet.json, recipe.yaml): a random-weight tiny-synthetic supernet and its middle subnet."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny")
    spec = load_recipe("tiny-synthetic").space
    torch.manual_seed(0)
    supernet = save_supernet(OFASupernet(spec), root / "supernet.pt", meta={"recipe": "tiny-synthetic"})
    subnet = save_subnet(Subnet(spec, middle_arch(spec, 24), SEARCH_META), root / "subnet.json")
    recipe = root / "finetune-tiny.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    return supernet, subnet, recipe


def _job(tiny, **kw) -> FinetuneJob:
    from ofa_deploy.space import load_subnet

    supernet, subnet, recipe = tiny
    return FinetuneJob(load_subnet(subnet), subnet, supernet, load_finetune_recipe(recipe), **kw)


def test_interrupted_finetune_resumes_bit_identically(tiny, tmp_path):
    straight = FineTuner(_job(tiny), tmp_path / "a")
    assert straight.run()["stopped"] is False
    cut = FineTuner(_job(tiny), tmp_path / "b")
    assert cut.run(stop_after_epochs=1)["stopped"]
    with pytest.raises(CheckpointError, match="--resume"):
        FineTuner(_job(tiny), tmp_path / "b").run()
    with pytest.raises(CheckpointError, match="another recipe"):  # other epochs: another run
        FineTuner(_job(tiny, epochs=4), tmp_path / "b").run(resume=True)
    resumed = FineTuner(_job(tiny), tmp_path / "b")
    resumed.run(resume=True)
    assert _same(straight.model.state_dict(), resumed.model.state_dict())
    # the extracted subnet's weights moved, and the KD teacher (largest subnet) took part
    extracted = FineTuner(_job(tiny), tmp_path / "c").model.state_dict()
    assert not _same(extracted, straight.model.state_dict())
    assert straight.kd_teacher is not None
    log = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in log].count("before") == 1 and log[-1]["event"] == "phase_end"


def test_from_scratch_starts_from_random_weights_without_teacher(tiny, tmp_path):
    from ofa_deploy.train.finetune import complete

    tuner = FineTuner(_job(tiny, from_scratch=True, epochs=1), tmp_path / "scratch")
    assert tuner.kd_teacher is None and tuner.recipe.phases[0].lr == 0.05 and tuner.recipe.phases[0].kd == 0
    tuner.run()
    log = [json.loads(line) for line in (tmp_path / "scratch" / "log.jsonl").read_text().splitlines()]
    assert "before" not in [e["event"] for e in log]
    scratch = complete(tuner, tmp_path / "scratch", "cpu")
    assert records.read_record(records.FINETUNE) is None or records.read_record(records.FINETUNE)["path"] != \
        scratch["checkpoint"]  # a baseline never becomes export's default
    # the checkpoint keeps the supernet's dataset (export verifies on it)
    assert load_finetuned(scratch["checkpoint"]).checkpoint_meta["recipe"] == "tiny-synthetic"
    tuned = FineTuner(_job(tiny, epochs=1), tmp_path / "ft")
    tuned.run()
    done = complete(tuned, tmp_path / "ft", "cpu", [tmp_path / "scratch"])
    report = (tmp_path / "ft" / "report.md").read_text()
    assert f"| from scratch ({tmp_path / 'scratch'}) | {scratch['top1']:.2f} | 1 |" in report
    assert f"| extracted from the supernet | {done['top1_before']:.2f} | - |" in report
    with pytest.raises(FormatError, match="not a `ofa-deploy finetune --from-scratch` run"):
        complete(tuned, tmp_path / "ft", "cpu", [tmp_path / "ft"])


def test_teacher_option(tiny, tmp_path):
    """--teacher naming the supernet itself is the default teacher (same weights after training); a
    fine-tuned checkpoint is taken as it is (its trained BN); a teacher of other classes is refused."""
    supernet = tiny[0]
    default = FineTuner(_job(tiny, epochs=1), tmp_path / "a")
    default.run()
    named = FineTuner(_job(tiny, epochs=1, teacher_path=supernet), tmp_path / "b")
    named.run()
    assert _same(default.model.state_dict(), named.model.state_dict())
    default.export(tmp_path / "a" / "subnet.pt")
    tuned = FineTuner(_job(tiny, epochs=1, teacher_path=tmp_path / "a" / "subnet.pt"), tmp_path / "c")
    assert _same(tuned.kd_teacher.state_dict(), load_finetuned(tmp_path / "a" / "subnet.pt").module.state_dict())
    spec = load_recipe("tiny-synthetic").space
    other = save_supernet(OFASupernet(type(spec).from_dict({**spec.to_dict(), "n_classes": 7})), tmp_path / "o.pt")
    with pytest.raises(CheckpointError, match="7 classes"):
        FineTuner(_job(tiny, epochs=1, teacher_path=other), tmp_path / "d")


def test_recipe_field_errors(tiny):
    good = dict(RECIPE)
    assert parse_finetune_recipe(good, "t").kd_ratio == 1.0
    for bad, match in [({**good, "learning_rate": 0.1}, r"unknown recipe field\(s\) \['learning_rate'\]"),
                       ({**good, "lr": float("nan")}, "lr"),
                       ({**good, "epochs": 0}, "epochs"),
                       ({**good, "kd_ratio": -1}, "kd_ratio"),
                       ({**good, "kind": "train"}, "kind must be finetune"),
                       ({**good, "optimizer": {"nesterov": "yes"}}, "optimizer.nesterov must be true or false"),
                       ({**good, "data": {"kind": "synthetic", "crop": 1}}, r"unknown data field"),
                       ({**good, "scratch": {"epochs": 3}}, r"unknown scratch field"),
                       ({k: v for k, v in good.items() if k != "lr"}, "has no 'lr'"),
                       (load_recipe("tiny-synthetic").raw, "training recipe")]:
        with pytest.raises(FormatError, match=match):
            parse_finetune_recipe(bad, "bad.yaml")
    with pytest.raises(FormatError, match="fine-tuning recipe"):
        parse_recipe(good, "t")  # `train` refuses it, saying what it is
    with pytest.raises(FormatError, match="unknown recipe 'nope': choose one of finetune-demo"):
        load_finetune_recipe("nope")


def test_shipped_recipes_have_upstreams_settings():
    for name, epochs in (("finetune-imagenet", 25), ("finetune-imagenet-75", 75)):
        r = load_finetune_recipe(name)
        assert (r.epochs, r.kd_ratio, r.momentum, r.nesterov, r.weight_decay, r.label_smoothing) == (
            epochs, 1.0, 0.9, True, 3e-5, 0.1)
        assert r.lr == pytest.approx(2.5e-3 * r.batch_size / 64) and r.data["kind"] == "imagenet"
    demo = load_finetune_recipe("finetune-demo")
    # the demo supernet's own rate for continuing trained weights (its depth-1 and expand-1 phases, what
    # upstream's 2.5e-3 per 64 became in its scaled schedule), at the same batch; no warm-up, as upstream's
    shipped = load_recipe("demo-fmnist")
    continuing = {ph.lr for ph in shipped.phases if ph.name in ("depth-1", "expand-1")}
    assert continuing == {demo.lr} and demo.batch_size == shipped.batch_size and demo.warmup_steps == 0
    assert (demo.kd_ratio, demo.momentum, demo.nesterov, demo.weight_decay, demo.label_smoothing) == (
        1.0, 0.9, True, 3e-5, 0.1) and demo.epochs <= 5


def test_official_names():
    assert official_name(SEARCH_META, 91.234, 5) == "cpu_lat@0.35ms_top1@91.2_finetune@5"
    assert official_name({"search": {"budget": {"flops": 595e6}}}, 80.0, 75) == "flops@595M_top1@80.0_finetune@75"
    assert official_name({}, 70.44, 25, "note8") == "note8_top1@70.4_finetune@25"


def test_cli_chain_search_finetune_export(cli, tiny, tmp_path, monkeypatch):
    """search (its record) -> finetune (no --subnet/--supernet) -> export (the fine-tuned weights by
    default, trained BN, verified) -> records chained; `subnet show` prints the official-style name."""
    supernet, subnet, recipe = tiny
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    records.remember_search(subnet, budget={"latency_ms": 0.35}, device="cpu", supernet=supernet)

    code, out, err = cli("finetune", "--recipe", recipe, "--out", tmp_path / "missing", "--epochs", "0")
    assert code == 2 and "--epochs" in err and not (tmp_path / "missing").exists()
    code, out, err = cli("finetune", "--recipe", recipe, "--out", tmp_path / "missing", "--compare-scratch", tmp_path)
    assert code == 2 and "not a finished `ofa-deploy finetune` run" in err and not (tmp_path / "missing").exists()

    code, out, err = cli("finetune", "--recipe", recipe, "--out", tmp_path / "ft", "--threads", "1")
    assert code == 0, err
    assert "next: ofa-deploy export --format tflite" in out
    report = json.loads((tmp_path / "ft" / "report.json").read_text())
    name = report["name"]
    assert name == f"cpu_lat@0.35ms_top1@{report['after']:.1f}_finetune@3"
    assert report["before"] is not None and report["epochs"] == 3 and report["seconds_per_epoch"] is not None
    rec = records.read_record(records.FINETUNE)
    assert rec["path"] == str((tmp_path / "ft" / "subnet.pt").resolve()) and rec["subnet"] == str(subnet.resolve())
    assert rec["name"] == name and rec["device"] == "cpu"

    # weights-only loadable, space and arch embedded
    obj = torch.load(tmp_path / "ft" / "subnet.pt", weights_only=True)
    assert obj["format"] == "ofa-deploy-subnet" and obj["arch"]["r"] == 24
    tuned = load_finetuned(tmp_path / "ft" / "subnet.pt")
    assert tuned.checkpoint_meta["finetune"]["name"] == name

    code, out, err = cli("export", "--format", "onnx", "--verify-images", "64", "--json")
    assert code == 0, err
    exp = json.loads(out)
    assert "the fine-tuned checkpoint of this subnet" in err
    assert exp["supernet"]["path"] == rec["path"] and exp["supernet"]["finetuned"]["name"] == name
    assert exp["bn"]["recalibrated"] is False and "no recalibration needed" in exp["bn"]["source"]
    assert exp["passed"] and exp["verification"]["metrics"]["max_abs_diff_rel"] < 1e-4
    # the exported file scores what finetune reported on the same 64 test images (eval_images: 64)
    assert exp["verification"]["metrics"]["accuracy_file"] == pytest.approx(report["after"])
    exported = records.read_record(records.EXPORT)
    assert exported["subnet"] == str(subnet.resolve()) and exported["device"] == "cpu"
    code, out, err = cli("benchmark", "--sessions", "1", "--max-runs", "20", "--json")
    assert code == 0, err
    assert json.loads(out)["file"] == exported["path"] and json.loads(out)["measured_ms"]["count"] >= 20

    code, out, err = cli("subnet", "show", subnet)
    assert code == 0, err
    assert name in out
    code, out, err = cli("subnet", "show", tmp_path / "ft" / "subnet.pt", "--json")
    assert code == 0, err
    assert json.loads(out)["meta"]["finetune"]["name"] == name

    # the subnet file changed since: export cuts from the supernet again, with recalibration
    save_subnet(Subnet(tuned.spec, smallest_arch(tuned.spec, 24), SEARCH_META), subnet)
    try:
        code, out, err = cli("export", "--format", "onnx", "--verify-images", "16", "--json", "--out",
                             tmp_path / "other.onnx")
        assert code == 0, err
        assert json.loads(out)["bn"]["recalibrated"] is True
    finally:
        save_subnet(Subnet(tuned.spec, middle_arch(tuned.spec, 24), SEARCH_META), subnet)


def test_search_verify_measures_a_finetuned_checkpoint_and_search_refuses_it_as_a_supernet(cli, profiled, tmp_path):
    """`search --verify`'s measurement (`device_measure`: the table's backend and protocol) times the
    subnet a fine-tuned checkpoint holds, and refuses to cut any other from it; given where a supernet is
    expected (`search -s`, `finetune -s`) the checkpoint is refused up front: exit 2, one line naming the
    supernet it was cut from, no search run, nothing written."""
    from ofa_deploy.errors import SpaceError
    from ofa_deploy.latency import LatencyTable
    from ofa_deploy.nn import load_supernet
    from ofa_deploy.nn.finetuned import save_finetuned
    from ofa_deploy.nn.shipped import shipped_supernet_path
    from ofa_deploy.predictor import Predictor, default_predictor_path
    from ofa_deploy.search.evolution import arch_result
    from ofa_deploy.search.problem import Budget, build_problem
    from ofa_deploy.search.verify import device_measure

    lut = LatencyTable.load(profiled)
    pred = Predictor.load(default_predictor_path())
    problem = build_problem(pred.spec, pred, lut, "cpu")
    supernet = shipped_supernet_path()
    arch = middle_arch(pred.spec, 24)
    tuned = save_finetuned(load_supernet(supernet).extract(arch), pred.spec, arch, tmp_path / "subnet.pt",
                           {"finetune": {"supernet": str(supernet)}})
    measure = device_measure(problem, lut, None, str(tuned), "cpu")
    ms = measure(arch_result(problem, arch, Budget(50.0)))
    assert 0 < ms < 1000
    with pytest.raises(SpaceError, match="holds the fine-tuned subnet"):
        measure(arch_result(problem, smallest_arch(pred.spec, 24), Budget(50.0)))

    record = tmp_path / "home" / "records" / "last_search.json"
    code, _out, err = cli("search", "--latency", "50ms", "--verify", "-s", tuned, "-o", tmp_path / "s.json")
    assert code == 2 and "verify round" not in err and "Traceback" not in err
    assert err.count("error:") == 1  # one message (rich may wrap it)
    line = " ".join(err.split())
    assert "is a fine-tuned subnet" in line and f"--supernet {supernet}" in line and "ofa-deploy export" in line
    assert not (tmp_path / "s.json").exists() and not record.exists()
    sub = save_subnet(Subnet(pred.spec, arch), tmp_path / "sub.json")
    code, _out, err = cli("finetune", "--subnet", sub, "-s", tuned, "--out", tmp_path / "ft")
    assert code == 2 and "is a fine-tuned subnet" in " ".join(err.split()) and not (tmp_path / "ft").exists()


def test_torchrun_processes_share_the_cores(monkeypatch):
    """Under torchrun each process computes with cores / processes threads unless --threads says
    otherwise (torchrun's OMP_NUM_THREADS=1 would leave cores idle; more would oversubscribe them);
    one process keeps torch's default."""
    from ofa_deploy.dist import threads_per_process

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert threads_per_process(None) is None and threads_per_process(3) == 3
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert threads_per_process(None) == max(1, cores // 2) and threads_per_process(1) == 1
    monkeypatch.setenv("WORLD_SIZE", str(8 * cores))  # two nodes: the local processes share this node's cores
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(4 * cores))
    assert threads_per_process(None) == 1


@pytest.mark.slow
def test_finetune_under_torchrun_two_processes(tiny, tmp_path):
    supernet, subnet, recipe = tiny
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           str(free_port()), "-m", "ofa_deploy", "finetune", "--subnet", str(subnet),
                           "--supernet", str(supernet), "--recipe", str(recipe), "--out", str(tmp_path / "run"),
                           "--threads", "1", "--json"],
                          env={**os.environ, "OMP_NUM_THREADS": "1", "OFA_DEPLOY_HOME": str(tmp_path / "home")},
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 process(es)" in proc.stderr
    done = json.loads(proc.stdout)
    assert done["processes"] == 2 and done["stopped"] is False and done["threads_per_process"] == 1
    assert load_finetuned(tmp_path / "run" / "subnet.pt").arch.r == 24


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_the_unbroken_weights(tiny, tmp_path):
    """The issue's target: a run killed (SIGKILL) after its first checkpoint, inside a later epoch, and
    resumed ends with exactly the weights of an unbroken run."""
    import signal
    import time

    supernet, subnet, _ = tiny
    slow = tmp_path / "slow.yaml"  # 12 steps an epoch: the kill lands inside an epoch
    slow.write_text(yaml.safe_dump({**RECIPE, "steps_per_epoch": 12, "epochs": 3}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OFA_DEPLOY_HOME": str(tmp_path / "home")}

    def command(out: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "ofa_deploy", "finetune", "--subnet", str(subnet), "--supernet", str(supernet),
                "--recipe", str(slow), "--out", str(out), "--threads", "1", "--json", *extra]

    proc = subprocess.Popen(command(tmp_path / "cut"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = tmp_path / "cut" / "state.pt"
    deadline = time.monotonic() + 240
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state.exists(), "no checkpoint was written"
    time.sleep(0.3)  # into the second epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it was killed: nothing was tested"
    assert not (tmp_path / "cut" / "subnet.pt").exists()
    resumed = subprocess.run(command(tmp_path / "cut", "--resume"), env=env, capture_output=True, text=True,
                             timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = subprocess.run(command(tmp_path / "straight"), env=env, capture_output=True, text=True, timeout=300,
                              check=False)
    assert straight.returncode == 0, straight.stderr[-3000:]
    a = load_finetuned(tmp_path / "cut" / "subnet.pt").module.state_dict()
    b = load_finetuned(tmp_path / "straight" / "subnet.pt").module.state_dict()
    assert _same(a, b)
    log = [json.loads(line) for line in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in log].count("resume") == 1


# ---- the official format on an ImageNet-style folder ----------------------------------------------------
CLASSES = ("n01440764", "n01443537", "n01484850")


def _photo(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.BILINEAR)


def _imagenet_folder(root: Path) -> Path:
    """3 classes x 6 train JPEGs and 2 val JPEGs a class, of varied sizes."""
    for c, wnid in enumerate(CLASSES):
        for split, n in (("train", 6), ("val", 2)):
            (root / split / wnid).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                _photo(100 * c + 10 * (split == "val") + i, (140 + 4 * i, 132)).save(
                    root / split / wnid / f"{wnid}_{i}.JPEG", "JPEG", quality=90)
    return root


def test_finetune_official_format_supernet_on_an_imagenet_folder(cli, tmp_path, monkeypatch):
    """A subnet of ofa_mbv3_d234_e346_k357_w1.2 (random weights, the official file layout: legacy
    `mobile_inverted_conv` keys under state_dict; 3 classes for a 3-class folder), its official arch
    dict as the subnet file: fine-tuned with the official train transform, then exported and verified."""
    torch.set_num_threads(1)
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    folder = _imagenet_folder(tmp_path / "imnet")
    spec = official_space(1.2, n_classes=3)
    torch.manual_seed(0)
    state = {k.replace(".conv.", ".mobile_inverted_conv.", 1) if k.startswith("blocks.") else k: v
             for k, v in OFASupernet(spec).state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "ofa_mbv3_d234_e346_k357_w1.2")
    arch = smallest_arch(spec, 128)
    (tmp_path / "arch.json").write_text(json.dumps({"ks": list(arch.ks), "e": list(arch.e), "d": list(arch.d),
                                                    "image_size": 128}))
    recipe = tmp_path / "ft-imagenet.yaml"
    # lr: a few steps of 6 images move random weights (and their trained BN statistics) far enough to
    # blow the logits up to ~1e4 at lr 0.02, past export's 1e-4 relative tolerance: a tiny lr keeps them sane
    recipe.write_text(yaml.safe_dump({**load_finetune_recipe("finetune-imagenet").raw, "batch_size": 6, "lr": 1e-4,
                                      "steps_per_epoch": 2, "epochs": 2, "bn_images": 6, "bn_batch": 6,
                                      "eval_images": 6, "data": {"kind": "imagenet", "val_size": 3, "workers": 0}}))
    base = ["finetune", "--subnet", tmp_path / "arch.json", "--supernet", tmp_path / "ofa_mbv3_d234_e346_k357_w1.2",
            "--recipe", recipe, "--data", folder, "--threads", "1", "--json"]
    code, out, err = cli(*base, "--out", tmp_path / "cut", "--stop-after-epochs", "1")
    assert code == 0 and json.loads(out)["stopped"] is True, err
    code, out, err = cli(*base, "--out", tmp_path / "cut", "--resume")
    assert code == 0, err
    done = json.loads(out)
    assert done["resolution"] == 128 and done["top1_before"] is not None
    tuned = load_finetuned(tmp_path / "cut" / "subnet.pt")
    assert tuned.spec.width_mult == 1.2 and tuned.arch.to_dict() == arch.to_dict()
    code, out, err = cli("export", "--format", "onnx", "--subnet", tmp_path / "arch.json", "--data", folder,
                         "--verify-images", "6", "--json", "--out", tmp_path / "sub.onnx")
    assert code == 0, err
    exp = json.loads(out)
    assert exp["passed"] and exp["bn"]["recalibrated"] is False and exp["input"]["shape"] == [1, 3, 128, 128]
