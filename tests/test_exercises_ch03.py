"""Chapter 3 exercises: every solution passes, each typical wrong answer gets its hint, no checker raises."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.exercises import ch03, ch03_more, running
from dlcourse.gradcheck import numerical_gradient
from dlcourse.numpy import losses

from .exercise_suite import Args, discover, raises_boom, standard_tests

SOLUTIONS = discover(ch03, ch03_more)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]
MORE = discover(ch03_more)  # also covered by tests/test_exercise_hostile.py, which discovers chNN_more too


def test_other_correct_answers_pass():
    """Answers written differently from the solutions pass too (the package where the exercise allows it)."""
    assert ch03.check_mse(lambda y_hat, y: np.square(np.subtract(y_hat, y)).sum() / np.size(y)).passed
    assert ch03.check_softmax(_softmax_logsumexp).passed
    assert ch03.check_one_hot(lambda label, c: np.eye(c)[label]).passed
    assert ch03.check_one_hot(lambda label, c: losses.one_hot(np.array(label), c)).passed
    assert ch03.check_cross_entropy(
        lambda p, label: -np.sum(losses.one_hot(np.array(label), len(p)) * np.log(p))
    ).passed
    assert ch03.check_dlogits(lambda z, label: losses.softmax(z) - np.eye(len(z))[label]).passed
    assert ch03.check_bce_with_logits(_bce_logaddexp).passed
    assert ch03.check_softmax_cross_entropy(_sce_own).passed


def test_library_routes_are_refused_with_a_sentence():
    """The exercises that say "write it yourself" refuse the package, PyTorch and SciPy, and say why."""
    for checker, answer in [
        (ch03.check_mse, lambda y_hat, y: losses.mse(y_hat, y)),
        (ch03.check_softmax, _softmax_moveaxis),
        (ch03.check_softmax, _softmax_torch),
        (ch03.check_softmax, _softmax_scipy),
        (ch03.check_bce_with_logits, _bce_torch),
        (ch03.check_softmax_cross_entropy, _sce_package),
    ]:
        feedback = checker(answer)
        assert not feedback.passed and "your function uses" in feedback.message.lower(), str(feedback)


def _softmax_logsumexp(z, axis):
    m = np.max(z, axis=axis, keepdims=True)
    return np.exp(z - m - np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True)))


def _softmax_moveaxis(z, axis):
    return np.moveaxis(losses.softmax(np.moveaxis(z, axis, -1)), -1, axis)


def _softmax_torch(z, axis):
    return torch.softmax(torch.tensor(z), dim=axis)


def _softmax_scipy(z, axis):
    import scipy.special

    return scipy.special.softmax(z, axis=axis)


def _sce_own(logits, labels):
    n = len(labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    grad = np.exp(log_probs)
    grad[np.arange(n), labels] -= 1.0
    return -log_probs[np.arange(n), labels].mean(), grad / n


def _bce_logaddexp(z, y):
    loss = np.mean(np.logaddexp(0.0, z) - y * z)
    p = np.exp(-np.logaddexp(0.0, -z))  # sigmoid, without overflow
    return loss, (p - y) / len(z)


def _bce_torch(z, y):
    zt = torch.tensor(z, requires_grad=True)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(zt, torch.tensor(y))
    loss.backward()
    return loss.item(), zt.grad.numpy()


def _sce_package(logits, labels):
    loss, cache = losses.cross_entropy_forward(logits, labels)
    return loss, losses.cross_entropy_backward(1.0, cache)


def _softmax_last_axis(z, axis):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _naive_softmax(z, axis):
    return np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)


def _global_max_softmax(z, axis):
    e = np.exp(z - np.max(z))
    return e / e.sum(axis=axis, keepdims=True)


def _silenced_softmax(z, axis):
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)


def _dlogits_flipped(z, label):
    return np.eye(len(z))[label] - losses.softmax(z)


def _bce_naive(z, y):
    p = 1 / (1 + np.exp(-z))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), (p - y) / len(z)


def _bce_summed(z, y):
    loss, dz = _bce_logaddexp(z, y)
    return loss * len(z), dz


def _bce_no_mean_in_dz(z, y):
    loss, dz = _bce_logaddexp(z, y)
    return loss, dz * len(z)


def _bce_flipped(z, y):
    loss, dz = _bce_logaddexp(z, y)
    return loss, -dz


def _bce_clipped(z, y):
    p = np.clip(1 / (1 + np.exp(-np.clip(z, -500, 500))), 1e-12, 1 - 1e-12)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), (p - y) / len(z)


def _bce_silenced(z, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _bce_naive(z, y)


def _sce_mean_fixed(logits, labels):  # the bug of the shift left in
    n, c = logits.shape
    shifted = logits - logits.max()
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    onehot = np.eye(c)[labels]
    return -np.sum(onehot * log_probs) / n, (np.exp(log_probs) - onehot) / n


def _sce_summed(logits, labels):
    loss, grad = _sce_own(logits, labels)
    return loss * len(labels), grad


def _sce_grad_not_averaged(logits, labels):
    loss, grad = _sce_own(logits, labels)
    return loss, grad * len(labels)


def _sce_silenced(logits, labels):
    with np.errstate(all="ignore"):
        return _sce_mean_fixed(logits, labels)


# (checker, typical wrong answer, words the targeted hint must contain)
WRONG = [
    (ch03.check_mse, lambda y_hat, y: np.sum((y_hat - y) ** 2), "*mean* squared error"),
    (ch03.check_mse, lambda y_hat, y: np.mean(y_hat - y), "need squaring"),
    (ch03.check_mse, lambda y_hat, y: np.mean(np.abs(y_hat - y)), "absolute"),
    (ch03.check_mse, lambda y_hat, y: np.sqrt(np.mean((y_hat - y) ** 2)), "RMSE"),
    (ch03.check_mse, lambda y_hat, y: None, "return"),
    (ch03.check_mse, lambda y_hat, y: 0.5 * np.mean((y_hat - y) ** 2), "convention"),
    (ch03.check_mse, lambda y_hat, y: losses.mse(y_hat, y), "Rewrite your function"),  # refused
    (ch03.check_softmax, _naive_softmax, "overflowed"),
    (ch03.check_softmax, lambda z, axis: np.exp(z - z.max(axis=axis, keepdims=True)), "sum to 1"),
    (ch03.check_softmax, _softmax_last_axis, "other axis"),
    (ch03.check_softmax, lambda z, axis: losses.softmax(z), "Rewrite your function"),  # refused
    (ch03.check_softmax, _softmax_moveaxis, "Rewrite your function"),  # refused
    (ch03.check_softmax, _softmax_torch, "Rewrite your function"),  # refused
    (ch03.check_softmax, _global_max_softmax, "own maximum"),
    (ch03.check_softmax, _silenced_softmax, "keepdims=True"),  # refused; the message says why
    (ch03.check_one_hot, lambda label, c: np.eye(c)[label - 1], "counts from 0"),
    (ch03.check_one_hot, lambda label, c: 1 - np.eye(c)[label], "swapped"),
    (ch03.check_one_hot, lambda label, c: np.zeros(c), "all zeros"),
    (ch03.check_one_hot, lambda label, c: np.eye(c)[label][::-1], "reversed"),
    (ch03.check_cross_entropy, lambda p, label: np.log(p[label]), "minus sign"),
    (ch03.check_cross_entropy, lambda p, label: -np.log10(p[label]), "natural log"),
    (ch03.check_cross_entropy, lambda p, label: -np.log(p.max()), "*true* class"),
    (ch03.check_cross_entropy, lambda p, label: -np.log(p).sum(), "only one"),
    (ch03.check_dlogits, _dlogits_flipped, "sign is flipped"),
    (ch03.check_dlogits, lambda z, label: (losses.softmax(z) - np.eye(len(z))[label]) / len(z), "nothing divides by C"),
    (ch03.check_dlogits, lambda z, label: 2 * (losses.softmax(z) - np.eye(len(z))[label]), "no factor 2"),
    (ch03.check_dlogits, lambda z, label: losses.softmax(z), "label must enter"),
    (ch03.check_dlogits, lambda z, label: -np.eye(len(z))[label] * (1 - losses.softmax(z)), "other classes"),
    (ch03.check_bce_with_logits, _bce_naive, "only ever raised"),
    (ch03.check_bce_with_logits, _bce_summed, "average over the N"),
    (ch03.check_bce_with_logits, _bce_no_mean_in_dz, "same 1/N"),
    (ch03.check_bce_with_logits, _bce_flipped, "negative there"),
    (ch03.check_bce_with_logits, _bce_clipped, "Clipping"),
    (ch03.check_bce_with_logits, _bce_silenced, "Write both logs"),  # refused
    (ch03.check_bce_with_logits, _bce_torch, "Rewrite your function"),  # refused
    (ch03.check_softmax_cross_entropy, ch03_more.given_softmax_cross_entropy, "divides by N * C"),
    (ch03.check_softmax_cross_entropy, _sce_mean_fixed, "its own shift"),
    (ch03.check_softmax_cross_entropy, _sce_summed, "divide the sum by N"),
    (ch03.check_softmax_cross_entropy, _sce_grad_not_averaged, "weight 1/N"),
    (ch03.check_softmax_cross_entropy, _sce_silenced, "Two lines are suspect"),  # refused
    (ch03.check_softmax_cross_entropy, _sce_package, "Rewrite your function"),  # refused
]


def test_naive_softmax_fails_only_on_large_scores():
    """The textbook formula is right on small scores; the failure names the input that overflowed."""
    feedback = ch03.check_softmax(_naive_softmax)
    assert "z = [1000, 1001, 1002]" in feedback.message


def test_the_global_maximum_fails_only_where_a_slice_underflows():
    feedback = ch03.check_softmax(_global_max_softmax)
    assert "[[-1000, -1001, -1002], [0, 1, 2]]" in feedback.message


def test_a_warning_fails_even_a_right_answer():
    """An answer with the right numbers that still warns is not accepted."""

    def warns_then_right(z, axis):
        np.exp(np.array([1000.0]))  # a pointless overflow
        return ch03.solution_softmax(z, axis)

    feedback = ch03.check_softmax(warns_then_right)
    assert not feedback.passed and "warned" in feedback.message


@pytest.mark.parametrize("checker, solution", SOLUTIONS, ids=lambda f: getattr(f, "__name__", ""))
def test_solutions_pass_under_the_learners_strictest_settings(checker, solution):
    """np.seterr(all="raise") and warnings as errors, set by the learner, cannot fail a right answer:
    the checker's references (which underflow on purpose) run quietly."""
    old = np.seterr(all="raise")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            feedback = checker(solution)
            other = ch03.check_softmax(lambda z, axis: ch03.solution_softmax(z, axis))
    finally:
        np.seterr(**old)
    assert feedback.passed and other.passed, str(feedback)


def test_the_bce_gradient_matches_finite_differences_and_autograd():
    rng = np.random.default_rng(3)
    z, y = 4.0 * rng.normal(size=7), rng.uniform(size=7)
    loss, dz = ch03.solution_bce_with_logits(z, y)
    numeric = numerical_gradient(lambda v: ch03.solution_bce_with_logits(v, y)[0], z.copy())
    np.testing.assert_allclose(dz, numeric, rtol=1e-6, atol=1e-9)
    t_loss, t_dz = _bce_torch(z, y)
    np.testing.assert_allclose([loss, *dz], [t_loss, *t_dz], rtol=1e-12, atol=1e-15)


def test_the_bce_is_exact_and_silent_for_huge_logits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, dz = ch03.solution_bce_with_logits(np.array([1000.0, -1000.0]), np.array([0.0, 1.0]))
    assert loss == 1000.0 and np.array_equal(dz, [0.5, -0.5])


def test_the_batch_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    logits, labels = 3.0 * rng.normal(size=(5, 4)), rng.integers(0, 4, size=5)
    _, grad = ch03.solution_softmax_cross_entropy(logits, labels)
    numeric = numerical_gradient(lambda v: ch03.solution_softmax_cross_entropy(v, labels)[0], logits.copy())
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        ch03.solution_softmax_cross_entropy(logits, labels)[0], losses.cross_entropy(logits, labels)
    )


def test_silencing_the_warnings_is_refused_in_the_message():
    for checker, answer in [
        (ch03.check_softmax, _silenced_softmax),
        (ch03.check_bce_with_logits, _bce_silenced),
        (ch03.check_softmax_cross_entropy, _sce_silenced),
    ]:
        feedback = checker(answer)
        assert not feedback.passed and "uses" in feedback.message and "hid" in feedback.message


def test_the_given_debug_code_fails_and_each_single_fix_is_recognised():
    assert not ch03.check_softmax_cross_entropy(ch03_more.given_softmax_cross_entropy).passed
    assert "own shift" in " ".join(ch03.check_softmax_cross_entropy(_sce_mean_fixed).hints)


def test_hints_do_not_give_the_answer_away():
    for checker, wrong, _ in WRONG:
        text = str(checker(wrong))
        assert "z - z.max()" not in text and "np.eye" not in text and "softmax(z) - " not in text


def _busy_loop(*args):
    while True:
        pass


def _exits(*args):
    raise SystemExit(1)


@pytest.mark.parametrize("checker, solution", MORE, ids=lambda f: getattr(f, "__name__", ""))
def test_hostile_answers_to_the_new_exercises(checker, solution, monkeypatch):
    """Hostile answers to ch03_more.py's checkers (tests/test_exercise_hostile.py covers them too)."""
    monkeypatch.setattr(running, "TIME_LIMIT_S", 0.3)
    feedback = checker(_busy_loop)
    assert not feedback.passed and "did not return" in feedback.message
    assert not checker(_exits).passed
    for change in (
        lambda out: (np.asarray(out[0]) + 0.5j, out[1]),  # complex
        lambda out: (str(out[0]), out[1]),  # a string
        lambda out: (out[0] * 1.01 + 0.01, out[1]),  # close
        lambda out: np.concatenate([np.ravel(out[0]), np.ravel(out[1])]),  # flattened
        lambda out: (out[0], np.asarray(out[1])[None]),  # one axis too many
    ):
        feedback = checker(lambda *args, change=change: change(solution(*args)))
        assert not feedback.passed and feedback.message[0].isupper() and feedback.hint, str(feedback)
    calls = []
    feedback = checker(lambda *args: calls.append(1) or solution(*args))
    assert feedback.passed and f"All {len(calls)} test cases pass" in feedback.message


@settings(max_examples=30)
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_checker_never_raises_on_constant_answers(value):
    for checker in CHECKERS:
        feedback = checker(lambda *args, v=value: v)
        assert not feedback.passed and feedback.hint


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda f: f.__name__)
def test_exception_inside_learner_code_is_reported(checker):
    feedback = checker(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message
    assert feedback.hint


assert Args  # several answers: none in this chapter
test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)


def _stub_from_notebook(notebook: str, name: str, tmp_path):
    """The function a chapter's exercise stub defines, loaded from a file so that its source can be read."""
    import importlib.util
    from pathlib import Path

    import nbformat

    cells = nbformat.read(Path(__file__).parents[1] / "chapters" / notebook, as_version=4).cells
    source = next(c.source for c in cells if c.cell_type == "code" and c.source.startswith(f"def {name}("))
    module_file = tmp_path / f"stub_{name}.py"
    module_file.write_text("import numpy as np\n\n" + source.rsplit("\n\n", 1)[0] + "\n")
    spec = importlib.util.spec_from_file_location(f"stub_{name}", module_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_the_notebooks_debugging_stub_is_the_code_the_hints_expect(tmp_path):
    stub = _stub_from_notebook("03_loss_functions.ipynb", "softmax_cross_entropy", tmp_path)
    feedback = ch03.check_softmax_cross_entropy(stub)
    assert not feedback.passed and "divides by N * C" in " ".join(feedback.hints), str(feedback)
