"""Chapter 7 exercises: every solution passes, typical wrong answers get their hints, checkers never raise."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dlcourse.exercises import ch07
from dlcourse.numpy import conv as npc

from .exercise_suite import discover, raises_boom, standard_tests

SOLUTIONS = discover(ch07)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]


def test_solutions_agree_with_the_package_and_torch():
    rng = np.random.default_rng(0)
    for size, kernel, stride, padding in [(28, 5, 1, 2), (9, 3, 2, 0), (10, 4, 3, 1)]:
        assert ch07.solution_output_size(size, kernel, stride, padding) == npc.conv2d_output_size(
            size, kernel, stride, padding
        )
    image, kernel = rng.normal(size=(6, 7)), rng.normal(size=(3, 2))
    expected = F.conv2d(torch.tensor(image)[None, None], torch.tensor(kernel)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ch07.solution_conv2d_single(image, kernel), expected, rtol=1e-12)
    x, dout = rng.normal(size=(6, 4)), rng.normal(size=(3, 2))
    _, cache = npc.maxpool2d_forward(x[None, None], 2)
    np.testing.assert_allclose(
        ch07.solution_maxpool_backward(x, dout), npc.maxpool2d_backward(dout[None, None], cache)[0, 0]
    )
    layer = npc.Conv2d(6, 16, 5, rng)
    assert ch07.solution_conv_params(6, 16, 5) == sum(p.data.size for p in layer.parameters())


def test_receptive_field_matches_autograd():
    """The input pixels that one output unit depends on, found by backpropagating from that unit.

    Average pooling has the receptive field of max pooling, and every pixel of it gets a gradient."""
    x = torch.zeros(1, 1, 40, 40, requires_grad=True)
    h = F.conv2d(x, torch.ones(1, 1, 3, 3))
    h = F.avg_pool2d(h, 2)
    h = F.conv2d(h, torch.ones(1, 1, 3, 3))
    h = F.avg_pool2d(h, 2)
    h[0, 0, 3, 3].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    assert int(rows.max() - rows.min() + 1) == ch07.solution_receptive_field([3, 2, 3, 2], [1, 2, 1, 2])


def test_other_correct_answers_pass():
    assert ch07.check_output_size(lambda n, k, s, p: int(np.floor((n + 2 * p - k) / s)) + 1).passed
    assert ch07.check_conv_params(lambda c, f, k: f * c * k * k + f).passed
    assert ch07.check_conv2d_single(
        lambda im, k: npc.conv2d_forward(im[None, None], k[None, None], np.zeros(1))[0][0, 0]
    ).passed


def _stride_first(kernels, strides):
    """A learner's loop that multiplies the spacing by the stride before widening the field."""
    field, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        jump = jump * s
        field = field + (k - 1) * jump
    return field


def _column_major(x, dout):
    """A learner's max-pool backward that reads argmax's flat index as (column, row)."""
    dx = np.zeros_like(x)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            flat = np.argmax(x[2 * i : 2 * i + 2, 2 * j : 2 * j + 2])
            dx[2 * i + flat % 2, 2 * j + flat // 2] = dout[i, j]
    return dx


# (checker, typical wrong answer, words the targeted hint must contain)
WRONG = [
    (ch07.check_output_size, lambda n, k, s, p: (n + 2 * p - k) // s, "One short"),
    (ch07.check_output_size, lambda n, k, s, p: (n + p - k) // s + 1, "both sides"),
    (ch07.check_output_size, lambda n, k, s, p: (n + 2 * p - k) / s + 1, "round the number of steps down"),
    (ch07.check_output_size, lambda n, k, s, p: n + 2 * p - k + 1, "ignored the stride"),
    (ch07.check_output_size, lambda n, k, s, p: (n - k) // s + 1, "left out the padding"),
    (ch07.check_output_size, lambda n, k, s, p: int(np.ceil((n + 2 * p - k) / s)) + 1, "rounded up"),
    (ch07.check_output_size, lambda n, k, s, p: n - k, "One short"),  # the stub
    (ch07.check_conv2d_single, lambda im, k: ch07.solution_conv2d_single(im, k[::-1, ::-1]), "flipped"),
    (
        ch07.check_conv2d_single,
        lambda im, k: ch07.solution_conv2d_single(np.pad(im, ((k.shape[0] // 2,) * 2, (k.shape[1] // 2,) * 2)), k),
        "no padding",
    ),
    (ch07.check_conv2d_single, lambda im, k: ch07.solution_conv2d_single(im, k)[:-1, :-1], "one row and one column"),
    (ch07.check_maxpool_backward, lambda x, d: np.kron(d, np.ones((2, 2))) / 4, "average pooling"),
    (ch07.check_maxpool_backward, lambda x, d: np.kron(d, np.ones((2, 2))), "their gradient is 0"),
    (ch07.check_maxpool_backward, lambda x, d: ch07.solution_maxpool_backward(-x, d), "smallest value"),
    (ch07.check_maxpool_backward, _column_major, "mirrored places"),
    (ch07.check_maxpool_backward, lambda x, d: d, "returned dout itself"),
    (ch07.check_conv_params, lambda c, f, k: f * c * k * k, "weights only"),
    (ch07.check_conv_params, lambda c, f, k: f * (k * k + 1), "spans every input channel"),
    (ch07.check_conv_params, lambda c, f, k: f * c * (k * k + 1), "One bias per kernel"),
    (ch07.check_receptive_field, lambda ks, ss: 1 + sum(k - 1 for k in ks), "ignored the strides"),
    (ch07.check_receptive_field, lambda ks, ss: sum(ks), "counts some pixels twice"),
    (ch07.check_receptive_field, lambda ks, ss: int(np.prod(ks)), "do not multiply"),
    (ch07.check_receptive_field, _stride_first, "stride applied too early"),
    (ch07.check_receptive_field, lambda ks, ss: ch07.solution_receptive_field(ks, ss) - 1, "Off by one"),
]


# A wrong answer of the right shape that matches no typical mistake: it gets the general hint.
GENERIC_WRONG = [
    (ch07.check_output_size, lambda n, k, s, p: 0),
    (ch07.check_conv2d_single, lambda im, k: np.zeros((im.shape[0] - k.shape[0] + 1, im.shape[1] - k.shape[1] + 1))),
    (ch07.check_maxpool_backward, lambda x, d: np.zeros_like(x)),
    (ch07.check_conv_params, lambda c, f, k: 0),
    (ch07.check_receptive_field, lambda ks, ss: 0),
]
# Pieces of the solutions that no hint may contain.
GIVEAWAYS = ["//", "+ 1)", "2 * padding", "np.sum(", "argmax", "unravel", "(k - 1) * jump", "jump *=", "* (in_channels"]


def test_hints_do_not_give_the_answer_away():
    answers = [(checker, answer) for checker, answer, _ in WRONG] + GENERIC_WRONG
    hints = set()
    for checker, answer in answers:
        feedback = checker(answer)
        assert not feedback.passed and feedback.hint, str(feedback)
        hints.add(feedback.hint)
    general = {checker(answer).hint for checker, answer in GENERIC_WRONG}
    assert len(general) == len(GENERIC_WRONG) and not any("return" in hint for hint in general)  # really general
    for hint in hints:
        assert not any(piece in hint for piece in GIVEAWAYS), hint


def test_exception_inside_learner_code_is_reported():
    feedback = ch07.check_conv2d_single(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message
    assert "4x4 image" in feedback.message  # which input failed


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)
