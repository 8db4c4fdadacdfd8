"""The registry of output kinds (`outputs`): a writer's kind is recognised in the order it was
registered, refused as another kind by `check_output`, and `fsio` knows none of them."""

from __future__ import annotations

import json

import pytest

from ofa_deploy import fsio, outputs
from ofa_deploy.errors import OutputError
from ofa_deploy.outputs import OutputKind, check_output, describe, identify, register_output


def test_a_registered_kind_is_recognised_before_the_one_it_names(tmp_path):
    doc = tmp_path / "x.json"
    doc.write_text(json.dumps({"format": "ofa-deploy-test-output"}))
    assert identify(doc) == "file"  # nothing recognises it yet (not a subnet either)
    kind = OutputKind("test-output", "test output", False,
                      lambda p: "test-output" if p.suffix == ".json" and "ofa-deploy-test-output" in p.read_text()
                      else None)
    try:
        register_output(kind, before="subnet")
        assert [k for k, _ in outputs._FILE_ORDER].index("test-output") < \
            [k for k, _ in outputs._FILE_ORDER].index("subnet")
        assert identify(doc) == "test-output" and describe("test-output") == "a test output"
        with pytest.raises(OutputError, match="is a test output, not a subnet file"):
            check_output(doc, "subnet")
        assert register_output(kind) is kind  # the same kind again: a no-op
        with pytest.raises(ValueError, match="already registered"):
            register_output(OutputKind("test-output", "other", False))
    finally:
        outputs.OUTPUTS.pop("test-output", None)
        outputs._FILE_ORDER[:] = [e for e in outputs._FILE_ORDER if e[0] != "test-output"]
    assert identify(doc) == "file"


def test_fsio_keeps_writes_and_locks_only():
    assert not any(hasattr(fsio, n) for n in ("identify", "check_output", "describe", "KINDS", "report_path"))
