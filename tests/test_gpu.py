"""The PyTorch tree on a GPU agrees with the NumPy tree within float32 tolerance.

Marked ``gpu``: skipped where there is no CUDA or MPS device. Run them alone with
``.venv/bin/pytest -m gpu tests/test_gpu.py``. Each case runs one NumPy forward/backward
pair and its PyTorch twin on the accelerator from the same float32 inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcourse.numpy import activations as npa
from dlcourse.numpy import conv as npc
from dlcourse.numpy import layers as npl
from dlcourse.numpy import losses as npx
from dlcourse.numpy import optim as npo
from dlcourse.torch import activations as tha
from dlcourse.torch import conv as thc
from dlcourse.torch import layers as thl
from dlcourse.torch import losses as thx
from dlcourse.torch import optim as tho


def _accelerator() -> torch.device | None:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return None


DEVICE = _accelerator()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(DEVICE is None, reason="no CUDA or MPS device on this machine")]
RTOL, ATOL = 1e-4, 1e-5  # float32, and TF32 is off (below)


@pytest.fixture(autouse=True)
def _exact_float32():
    """TF32 matmuls (on by default for convolutions on Ampere+) round to 10 mantissa bits: turn them off."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _rng():
    return np.random.default_rng(0)


def _f32(*shape):
    return _rng().normal(size=shape).astype(np.float32)


def _to(a):
    return torch.from_numpy(np.ascontiguousarray(a)).to(DEVICE)


def _close(got, want):
    got = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


# (name, numpy forward, numpy backward, torch forward, torch backward, input arrays, extra args)
PAIRS = [
    *[
        (n, getattr(npa, f"{n}_forward"), getattr(npa, f"{n}_backward"), getattr(tha, f"{n}_forward"),
         getattr(tha, f"{n}_backward"), [_f32(64, 33)], ())
        for n in ("sigmoid", "tanh", "relu")
    ],
    ("softmax", npx.softmax_forward, npx.softmax_backward, thx.softmax_forward, thx.softmax_backward,
     [_f32(16, 10)], ()),
    ("linear", npl.linear_forward, npl.linear_backward, thl.linear_forward, thl.linear_backward,
     [_f32(32, 20), _f32(20, 7), _f32(7)], ()),
    ("conv2d", npc.conv2d_forward, npc.conv2d_backward, thc.conv2d_forward, thc.conv2d_backward,
     [_f32(4, 3, 12, 12), _f32(6, 3, 5, 5) * 0.2, _f32(6)], (1, 2)),
    ("maxpool2d", npc.maxpool2d_forward, npc.maxpool2d_backward, thc.maxpool2d_forward, thc.maxpool2d_backward,
     [_f32(4, 3, 12, 12)], (2,)),
    ("avgpool2d", npc.avgpool2d_forward, npc.avgpool2d_backward, thc.avgpool2d_forward, thc.avgpool2d_backward,
     [_f32(4, 3, 12, 12)], (2,)),
]  # fmt: skip


@pytest.mark.parametrize("name, np_fwd, np_bwd, th_fwd, th_bwd, inputs, extra", PAIRS, ids=[p[0] for p in PAIRS])
def test_forward_and_backward_agree_on_the_accelerator(name, np_fwd, np_bwd, th_fwd, th_bwd, inputs, extra):
    out, cache = np_fwd(*inputs, *extra)
    tout, tcache = th_fwd(*(_to(a) for a in inputs), *extra)
    assert tout.device.type == DEVICE.type, f"{name} left the {DEVICE} device"
    _close(tout, out)
    dout = _rng().normal(size=out.shape).astype(np.float32)
    grads, tgrads = np_bwd(dout, cache), th_bwd(_to(dout), tcache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    tgrads = tgrads if isinstance(tgrads, tuple) else (tgrads,)
    for g, tg in zip(grads, tgrads, strict=True):
        _close(tg, g)


def test_cross_entropy_loss_and_gradient_agree():
    logits, labels = _f32(32, 10), _rng().integers(0, 10, size=32)
    loss, cache = npx.cross_entropy_forward(logits, labels)
    tloss, tcache = thx.cross_entropy_forward(_to(logits), _to(labels))
    _close(float(tloss), loss)
    _close(thx.cross_entropy_backward(1.0, tcache), npx.cross_entropy_backward(1.0, cache))


@pytest.mark.parametrize("opt", ["SGD", "Momentum", "Adam"])
def test_one_training_step_of_the_mlp_agrees(opt):
    """Same weights in both trees, one forward, backward and optimiser step: same new weights."""
    rng = np.random.default_rng(0)
    net = npl.Sequential(npl.Linear(20, 32, rng), npl.ReLU(), npl.Linear(32, 5, rng))
    tnet = thl.Sequential(thl.Linear(20, 32, np.random.default_rng(0)), thl.ReLU(), thl.Linear(32, 5, rng)).to(DEVICE)
    with torch.no_grad():
        for p, tp in zip(net.parameters(), tnet.parameters(), strict=True):
            tp.copy_(_to(p.data))
    x, y = _f32(16, 20), rng.integers(0, 5, size=16)
    optimiser, toptimiser = getattr(npo, opt)(net.parameters(), lr=0.05), getattr(tho, opt)(tnet.parameters(), lr=0.05)

    loss, cache = npx.cross_entropy_forward(net(x), y)
    optimiser.zero_grad()
    net.backward(npx.cross_entropy_backward(1.0, cache))
    optimiser.step()

    tloss = torch.nn.functional.cross_entropy(tnet(_to(x)), _to(y))
    toptimiser.zero_grad()
    tloss.backward()
    toptimiser.step()

    _close(tloss.item(), loss)
    for p, tp in zip(net.parameters(), tnet.parameters(), strict=True):
        assert tp.device.type == DEVICE.type
        _close(tp, p.data)
