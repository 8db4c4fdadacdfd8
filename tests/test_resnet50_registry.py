"""ResNet50 as a registered kind: the generic readers (space dicts, subnet files, net.config,
arch dicts, checkpoints, `subnet show|convert`) hand ResNet50 over to its own module."""

from __future__ import annotations

import json

import pytest
from support.shared import SHARED, need_shared

from ofa_deploy.errors import SpaceError
from ofa_deploy.nn.checkpoint import load_supernet, save_supernet
from ofa_deploy.nn.resnet50 import OFAResNet50
from ofa_deploy.space import (
    RESNET50_FAMILY,
    SpaceFamily,
    SpaceSpec,
    Subnet,
    family_of,
    family_of_net,
    get_family,
    load_subnet,
    official_space,
    save_subnet,
)
from ofa_deploy.space.checkpoint import checkpoint_space
from ofa_deploy.space.embedded import read_space_record
from ofa_deploy.space.resnet50 import ResNet50Spec, ResNetArch, resnet_arch_costs, to_net_config

GOLDEN = SHARED / "golden" / "ofa_resnet50"
REAL = ResNet50Spec()
ARCH = ResNetArch((2, 1, 0, 2, 1), (0.25, 0.2, 0.35) * 6, (1, 2, 0, 1, 2, 0), 176)


def test_registered_kind_and_space_dicts():
    assert get_family("ofa_resnet50") is RESNET50_FAMILY and isinstance(RESNET50_FAMILY, SpaceFamily)
    assert family_of_net("ResNets") is RESNET50_FAMILY
    assert SpaceSpec.from_dict(REAL.to_dict()) == REAL
    assert SpaceSpec.from_dict({"kind": "ofa_resnet50", "n_classes": 10}) == ResNet50Spec(n_classes=10)
    assert official_space(kind="ofa_resnet50") == REAL
    assert family_of(REAL) is REAL.family is RESNET50_FAMILY
    with pytest.raises(SpaceError, match="OFA-ResNet50 spaces have no width multiplier"):
        SpaceSpec(kind="ofa_resnet50")


@pytest.mark.parametrize("fmt", ["json", "yaml", "official", "net-config"])
def test_subnet_files_round_trip(tmp_path, fmt):
    name = {"net-config": "net.config", "official": "arch.json"}.get(fmt, f"s.{fmt}")
    path = save_subnet(Subnet(REAL, ARCH), tmp_path / name, fmt) or tmp_path / name
    image_size = ARCH.r if fmt == "net-config" else None
    sub = load_subnet(path, image_size=image_size)
    assert sub.spec == REAL and sub.arch.canonical(REAL) == ARCH.canonical(REAL)


def test_subnet_show_and_convert(cli, tmp_path):
    folder = tmp_path / "rn"
    folder.mkdir()
    (folder / "net.config").write_text(json.dumps(to_net_config(REAL, ARCH)))
    (folder / "run.config").write_text(json.dumps({"image_size": ARCH.r}))
    code, out, _ = cli("subnet", "show", folder, "--json")
    assert code == 0
    info = json.loads(out)
    params, macs = resnet_arch_costs(REAL, ARCH)
    assert (info["params"], info["macs"], info["resolution"]) == (params, macs, ARCH.r)
    assert [st["depth"] for st in info["stages"]] == [3, 2, 6, 3]
    assert 0 < sum(st["params"] for st in info["stages"]) < params
    assert 0 < sum(st["macs"] for st in info["stages"]) < macs
    code, out, _ = cli("subnet", "show", folder)
    assert code == 0 and "OFA-ResNet50" in out
    code, out, _ = cli("subnet", "convert", folder, "--to", "official")
    assert code == 0 and json.loads(out) == ARCH.canonical(REAL).to_official()  # read back canonical
    code, _, err = cli("subnet", "convert", folder, "--to", "mmrazor")
    assert code == 2 and "MMRazor has no subnet format for OFA-ResNet50" in err


def test_checkpoints_through_the_generic_readers(tmp_path):
    path = need_shared(GOLDEN / "supernet.pth")
    spec = checkpoint_space(path)
    assert spec == ResNet50Spec(stage_base_widths=(112, 224, 448, 896))
    net = load_supernet(path)
    assert isinstance(net, OFAResNet50) and net.spec == spec
    ours = save_supernet(net, tmp_path / "ours.pt", meta={"note": "copy"})
    assert read_space_record(ours) == spec  # torch-free, from the zip's record
    again = load_supernet(ours)
    assert isinstance(again, OFAResNet50) and again.checkpoint_meta == {"note": "copy"}
    for (ka, va), (kb, vb) in zip(net.state_dict().items(), again.state_dict().items()):
        assert ka == kb and va.equal(vb)
