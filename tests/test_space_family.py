"""The `SpaceFamily` protocol: every registered family implements it and has a supernet (`nn.registry`)
and a latency key scheme (`latency.blocks.SCHEMES`); the generic code reaches each family through
them only (no `isinstance` on a family's types outside its own modules)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from ofa_deploy.errors import SpaceError
from ofa_deploy.latency.blocks import SCHEMES, arch_keys, key_scheme, resolution_keys
from ofa_deploy.space import (
    SpaceFamily,
    SpaceSpec,
    Subnet,
    families,
    family_of,
    get_family,
    largest_arch,
    parse_subnet,
    sample_archs,
    spec_from_dict,
)
from ofa_deploy.space.formats import to_net_config, to_official_arch
from ofa_deploy.space.resnet50 import ResNet50Spec

SRC = Path(__file__).resolve().parents[1] / "src" / "ofa_deploy"
# Small spaces of each family (the official ones would build large supernets).
SMALL = {
    "ofa_mbv3": SpaceSpec(width_mult=0.5, n_classes=10, resolutions=(32, 48)),
    "ofa_proxyless": SpaceSpec(width_mult=0.5, n_classes=10, resolutions=(32, 48), kind="ofa_proxyless"),
    "ofa_resnet50": ResNet50Spec(stage_base_widths=(16, 32, 48, 64), n_classes=10, resolutions=(32, 48)),
}
# The types of the families, which generic code never tests for.
FAMILY_TYPES = {"SpaceKind", "SpaceSpec", "Arch", "ArchBatch", "MobileNetFamily", "ResNet50Spec", "ResNetArch",
                "ResNetBatch", "ResNet50Family", "ResNet50Kind", "OFASupernet", "OFAMobileNetV3", "OFAResNet50"}
FAMILY_MODULES = ("space/resnet50/", "space/mobilenet/")


def test_every_family_implements_the_protocol_and_is_registered_everywhere():
    from ofa_deploy.nn.registry import SUPERNETS

    assert [f.name for f in families()] == ["ofa_mbv3", "ofa_proxyless", "ofa_resnet50"] == sorted(SMALL)
    for family in families():
        assert isinstance(family, SpaceFamily), family
        assert family.structure in SUPERNETS and family.structure in SCHEMES, family
        assert get_family(family.name) is family
    with pytest.raises(SpaceError, match="unknown space kind 'nope'.*'ofa_resnet50'"):
        get_family("nope")


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_a_space_of_each_family_goes_through_the_generic_readers(kind):
    spec = SMALL[kind]
    family = family_of(spec)
    assert family is spec.family and family.name == kind
    assert spec_from_dict(spec.to_dict()) == spec
    batch = sample_archs(spec, 8, np.random.default_rng(0))
    assert len(batch) == 8 and len(family.batch_of(batch.to_archs())) == 8
    arch = largest_arch(spec)
    assert family.arch_from_dict(arch.to_dict()) == arch
    sub = Subnet(spec, arch)
    official = to_official_arch(sub)
    assert family.is_arch_dict(official)
    assert parse_subnet(official, spec=spec).arch.canonical(spec) == arch.canonical(spec)
    back = parse_subnet(to_net_config(sub), image_size=arch.r, spec=spec)
    assert back.spec.same_space(spec) and back.arch.canonical(spec) == arch.canonical(spec)  # (no resolution list)
    keys = resolution_keys(spec, arch.r).distinct()
    assert set(arch_keys(spec, arch)) <= set(keys)
    covered = {k for a in key_scheme(spec).covering_archs(spec, arch.r) for k in arch_keys(spec, a)}
    assert covered == set(keys)
    enc = family.predictor_encoding(spec, 32, 16, 2)
    assert type(enc) in family.encodings and enc.encode(batch).shape == (8, enc.n_features)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_each_family_builds_loads_and_extracts_through_the_nn_registry(kind, tmp_path):
    """One load/save for every family; extracted subnets have one module per table key."""
    import torch

    from ofa_deploy.latency.block_models import iter_layers
    from ofa_deploy.nn.checkpoint import load_supernet, save_supernet
    from ofa_deploy.nn.registry import new_supernet

    spec = SMALL[kind]
    torch.manual_seed(0)
    net = new_supernet(spec).eval()
    path = save_supernet(net, tmp_path / "s.pt", meta={"note": kind})
    back = load_supernet(path)
    assert type(back) is type(net) and back.spec == spec and back.checkpoint_meta == {"note": kind}
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), back.state_dict().values()))
    arch = largest_arch(spec, 32)
    sub = back.extract(arch)
    assert len(list(iter_layers(sub, spec, arch))) == len(arch_keys(spec, arch))
    back.sort_channels(0)  # one helper (`nn.channels`) for every family's blocks


def _family_isinstance_calls() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = str(path.relative_to(SRC))
        if rel.startswith(FAMILY_MODULES):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" and len(node.args) == 2:
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)} | \
                    {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
                if names & FAMILY_TYPES:
                    found.append(f"{rel}:{node.lineno}")
    return found


def test_no_generic_code_tests_which_family_a_space_is():
    """Outside a family's own modules, code asks the family (`family_of(spec)`), never `isinstance`."""
    assert _family_isinstance_calls() == []


# Generic modules of `space` that may name a family's module: the package's public face, and the
# command line's width options (the MobileNet family's, so they build its `SpaceSpec`).
GENERIC_MAY_IMPORT_A_FAMILY = {"space/__init__.py", "space/options.py"}


def _generic_space_imports_of_families() -> list[str]:
    found = []
    for path in sorted((SRC / "space").glob("*.py")):
        rel = str(path.relative_to(SRC))
        if rel in GENERIC_MAY_IMPORT_A_FAMILY:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ImportFrom) and node.level == 1 and node.module is not None
                    and node.module.split(".")[0] in ("mobilenet", "resnet50")):
                found.append(f"{rel}:{node.lineno} imports .{node.module}")
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module is None:
                found += [f"{rel}:{node.lineno} imports .{a.name}" for a in node.names if a.name in ("mobilenet", "resnet50")]
    return found


def test_generic_space_modules_name_no_family():
    """Each family's code is in its own package (`space/mobilenet/`, `space/resnet50/`): the generic
    modules of `space` ask the family (`family_of`) and import none of them."""
    assert _generic_space_imports_of_families() == []


def test_released_space_names_are_the_families():
    """`search --supernet ofa-mbv3-w1.2` reads the name from the family that declares it (no table of
    MobileNet names in the search): each name gives that family's released ImageNet space."""
    from ofa_deploy.search.sources import resolve_supernet
    from ofa_deploy.space.family import released_spaces

    names = released_spaces()
    assert list(names) == ["ofa-mbv3-w1.2", "ofa-mbv3-w1.0", "ofa-proxyless-w1.3"]
    for name, family in names.items():
        spec, _, _ = resolve_supernet(name, None)
        assert spec == family.released_space(name) and spec.family is family and spec.n_classes == 1000
    assert get_family("ofa_resnet50").released_names == ()
