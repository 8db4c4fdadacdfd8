"""The test session's memo of block exports (`support/onnx_memo.py`) answers only for an identical
module: same structure, mode, weights, buffers and input shape; and it moves the torch RNG as the
real export does."""

from __future__ import annotations

import torch
from support.onnx_memo import FolderStore, memoised, module_digest
from torch import nn


def _block(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()).eval()


def test_the_key_sees_weights_buffers_mode_and_shape():
    a, b = _block(), _block()
    shape = (1, 3, 8, 8)
    assert module_digest(a, shape) == module_digest(b, shape)
    assert module_digest(a, shape) != module_digest(a, (1, 3, 16, 16))
    with torch.no_grad():
        b[0].weight[0, 0, 0, 0] += 1e-6
    assert module_digest(a, shape) != module_digest(b, shape)
    c = _block()
    c[1].running_mean[0] = 0.5  # a buffer, not a parameter
    assert module_digest(a, shape) != module_digest(c, shape)
    d = _block()
    d[1].train()
    assert module_digest(a, shape) != module_digest(d, shape)
    e = nn.Sequential(nn.Conv2d(3, 4, 3, padding=2), nn.BatchNorm2d(4), nn.ReLU()).eval()  # same weights' shapes
    e.load_state_dict(a.state_dict())
    assert module_digest(a, shape) != module_digest(e, shape)


def test_the_memo_exports_once_per_identical_module_and_draws_as_the_export_does():
    calls = []

    def real(module, shape):
        calls.append(shape)
        torch.randn(*shape)
        return f"export {len(calls)}".encode()

    memo = memoised(real, {})
    shape = (1, 3, 8, 8)
    one, two, other = _block(), _block(), _block(seed=2)
    first = memo(one, shape)
    torch.manual_seed(1)
    again = memo(two, shape)  # a hit
    after_hit = torch.rand(1)
    torch.manual_seed(1)
    torch.randn(*shape)  # what the real export draws
    assert again == first and len(calls) == 1 and torch.equal(after_hit, torch.rand(1))
    assert memo(other, shape) == b"export 2" and len(calls) == 2


def test_a_folder_store_is_shared_with_another_process_s_memo(tmp_path):
    """Two memos on one folder (two xdist workers): the second finds the first's export and does not export."""
    calls = []

    def real(module, shape):
        calls.append(shape)
        torch.randn(*shape)
        return b"exported once"

    shape = (1, 3, 8, 8)
    first = memoised(real, FolderStore(tmp_path / "memo"))(_block(), shape)
    other_worker = memoised(real, FolderStore(tmp_path / "memo"))
    assert other_worker(_block(), shape) == first == b"exported once" and len(calls) == 1
    assert [p.suffix for p in (tmp_path / "memo").iterdir()] == [".onnx"]  # no temporary file left
    assert other_worker(_block(seed=2), shape) == b"exported once" and len(calls) == 2  # another block: exported
