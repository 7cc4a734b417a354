"""Chapters 1 and 2: every solution passes its checker, each typical wrong answer gets its hint, and a checker never raises."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given

from dlcourse.exercises import ch01, ch02, ch02_more, running, tracking
from dlcourse.gradcheck import numerical_gradient, relative_error
from dlcourse.numpy import linalg as np_linalg
from dlcourse.numpy import perceptron

from . import test_exercise_hostile as hostile
from .exercise_suite import Args, companions, discover, garbage, raises_boom, standard_tests

SOLUTIONS = discover(ch01, ch02, ch02_more)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]
sigmoid = ch02.activations.sigmoid


def test_and_gate_solution_and_any_valid_answer_pass():
    assert ch02.check_and_gate(*ch02.solution_and_gate).passed
    assert ch02.check_and_gate([2.0, 2.0, 2.0], -5.0).passed  # another valid neuron
    assert ch02.check_and_gate(np.array([1.0, 2.0, 3.0]), -5.5).passed  # unequal weights work too


# Wrong answers of the loops-only exercises, written without NumPy unless the route is the mistake.
def swapped_loops(a, b):
    return [[sum(a[j][t] * b[t][i] for t in range(len(b))) for j in range(len(a))] for i in range(len(b[0]))]


def elementwise_loops(a, b):
    return [[a[i][j] * b[i][j] for j in range(len(a[0]))] for i in range(len(a))]


def matmul_by_at(a, b):
    from numpy import array

    return (array(a) @ array(b)).tolist()


def matmul_wrong_range(a, b):  # k taken from the wrong matrix: right only for square inputs
    n, k, m = len(a), len(a), len(b[0])
    return [[sum(a[i][t] * b[t][j] for t in range(k)) for j in range(m)] for i in range(n)]


def sigmoid_silenced(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def sigmoid_caught(x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return 1 / (1 + np.exp(-x))


def softplus_silenced(x):
    with np.errstate(over="ignore"):
        return np.log(1 + np.exp(x)), 1 / (1 + np.exp(-x))


def train_with(*, shuffle=False, **mistake):
    def train(x, y, lr, epochs):
        if shuffle:
            order = np.random.default_rng(0).permutation(len(x))
            x, y = x[order], y[order]
        return ch02_more._train(x, y, lr, epochs, **mistake)

    return train


def train_by_the_package(x, y, lr, epochs):
    from dlcourse.numpy.perceptron import perceptron_train

    result = perceptron_train(x, y, lr, epochs)
    return result.weight, result.bias, result.errors


def matmul_by_the_package(a, b):
    from dlcourse.numpy.linalg import matmul_naive

    return matmul_naive(a, b).tolist()


def shared_rows(a, b):  # [[0] * m] * n: n references to one row
    n, k, m = len(a), len(b), len(b[0])
    out = [[0] * m] * n
    for i in range(n):
        for j in range(m):
            out[i][j] = sum(a[i][t] * b[t][j] for t in range(k))
    return out


def flops_k_minus_one(sizes, batch):  # k - 1 additions per entry: the same total as leaving out the biases
    total = 0
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        total += (2 * n_in - 1) * batch * n_out + batch * n_out + batch * n_out * (index < len(sizes) - 2)
    return total


def sigmoid_where(x):  # np.where evaluates both forms on every element
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def sigmoid_by_scipy(x):
    from scipy.special import expit

    return expit(x)


def sigmoid_clipped(x):
    return 1 / (1 + np.exp(-np.clip(x, -500, 500)))


def softplus_where(x):
    return np.where(x > 0, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x))), sigmoid(x)


def update_with(**mistake):
    return lambda w, b, x, y, lr: ch02._update(w, b, x, y, lr, **mistake)


def mlp_flops_with(**mistake):
    return ch01._flops_without(**mistake)


# (checker, typical wrong answer, words its hint contains at some stage)
WRONG = [
    (ch01.check_count_parameters, lambda s: sum(a * b for a, b in zip(s[:-1], s[1:], strict=False)), "weights only"),
    (ch01.check_count_parameters, lambda s: ch01.solution_count_parameters(s) + s[0], "input layer has no bias"),
    (
        ch01.check_count_parameters,
        lambda s: sum(a * b + a for a, b in zip(s[:-1], s[1:], strict=False)),
        "as many biases",
    ),
    (ch01.check_count_parameters, lambda s: ch01.solution_count_parameters(s) - s[-1], "output layer's biases"),
    (ch01.check_count_parameters, lambda s: ch01.solution_count_parameters(s) + 0.05, "one layer at a time"),
    (ch01.check_matmul_flops, lambda n, k, m: n * k * m, "half"),
    (ch01.check_matmul_flops, lambda n, k, m: (2 * k - 1) * n * m, "simpler convention"),
    (ch01.check_matmul_flops, lambda n, k, m: 2 * n * m, "does not grow with k"),
    (ch01.check_matmul_flops, lambda n, k, m: np_linalg.matmul_flops(n, k, m), "Count the entries"),  # refused
    (ch01.check_matmul_flops, lambda n, k, m: 2 * n * k * m + (100 if n == 512 else 0), "Count the entries"),
    (ch01.check_matmul_flops, lambda n, k, m: 2 * n * k * m + 0.05, "Count the entries"),  # not a whole number
    (ch01.check_matmul_loops, swapped_loops, "swapped"),
    (ch01.check_matmul_loops, elementwise_loops, "elementwise"),
    (ch01.check_matmul_loops, lambda a, b: np.matmul(a, b).tolist(), "row i of a"),  # a NumPy one-liner: refused
    (ch01.check_matmul_loops, matmul_by_at, "row i of a"),  # @: refused
    (ch01.check_matmul_loops, lambda a, b: None, "return"),
    (ch01.check_matmul_loops, shared_rows, "references"),
    (ch01.check_matmul_loops, lambda a, b: np_linalg.matmul_naive(a, b).tolist(), "row i of a"),  # refused
    (ch01.check_matmul_loops, matmul_by_the_package, "row i of a"),  # refused
    (ch01.check_deep_models, "LSTM", "many layers"),
    (ch01.check_deep_models, ch01.MODELS, "many layers"),
    (ch01.check_deep_models, {"LSTM", "decision tree"}, "flat"),
    (ch01.check_mlp_forward_flops, lambda s, batch: ch01.solution_mlp_forward_flops(s, 1), "single example"),
    (ch01.check_mlp_forward_flops, mlp_flops_with(relu_everywhere=True), "output layer"),
    (ch01.check_mlp_forward_flops, mlp_flops_with(relu=False), "activations"),
    (ch01.check_mlp_forward_flops, mlp_flops_with(bias=False), "bias additions are missing"),
    (ch01.check_mlp_forward_flops, flops_k_minus_one, "one addition too few"),
    (ch01.check_mlp_forward_flops, lambda s, batch: ch01.solution_mlp_forward_flops(s, batch) + 0.05, "layer by layer"),
    (
        ch01.check_mlp_forward_flops,
        lambda s, batch: sum(batch * a * b for a, b in zip(s[:-1], s[1:], strict=False)),
        "whole batch",
    ),
    (ch01.check_matmul_debug, ch01.buggy_matmul, "running total"),
    (ch01.check_matmul_debug, ch01._reset_once, "very first entry"),
    (ch01.check_matmul_debug, matmul_wrong_range, "pencil"),
    (ch01.check_matmul_debug, lambda a, b: np_linalg.matmul_naive(a, b).tolist(), "pencil"),  # refused
    (ch01.check_matmul_debug, lambda a, b: (np.array(a) @ np.array(b)).tolist(), "pencil"),  # NumPy: refused
    (ch02.check_neuron, lambda x, w, b: sigmoid(np.dot(x, w)), "bias is missing"),
    (ch02.check_neuron, lambda x, w, b: float(np.tanh(np.dot(x, w) + b)), "another activation"),
    (ch02.check_neuron, lambda x, w, b: max(float(np.dot(x, w) + b), 0.0), "another activation"),
    (ch02.check_neuron, lambda x, w, b: np.dot(x, w) + b, "pre-activation z itself"),
    (ch02.check_neuron, lambda x, w, b: sigmoid(np.dot(x, w)) + b, "wrong place"),
    (ch02.check_neuron, lambda x, w, b: float(perceptron.neuron(x, w, b)), "pre-activation"),  # refused
    (ch02.check_sigmoid, lambda x: 1 / (1 + np.exp(-x)), "overflows"),
    (ch02.check_sigmoid, lambda x: np.exp(x) / (1 + np.exp(x)), "depending on your formula"),
    (ch02.check_sigmoid, sigmoid_where, "both of its candidate arrays"),
    (ch02.check_sigmoid, lambda x: ch02.activations.sigmoid(x), "rewrite the formula"),  # refused
    (ch02.check_sigmoid, lambda x: torch.sigmoid(torch.as_tensor(x)).numpy(), "rewrite the formula"),  # refused
    (ch02.check_sigmoid, sigmoid_by_scipy, "rewrite the formula"),  # refused
    (ch02.check_sigmoid, sigmoid_silenced, "rewrite the formula"),  # right outputs, warning hidden: refused
    (ch02.check_sigmoid, sigmoid_caught, "rewrite the formula"),
    (ch02.check_sigmoid, lambda x: 1 / (1 + np.exp(x)), "mirrored"),
    (ch02.check_relu_derivative, lambda x: np.maximum(x, 0), "ReLU itself"),
    (ch02.check_relu_derivative, lambda x: (x >= 0).astype(float), "exactly x = 0"),
    (ch02.check_relu_derivative, lambda x: np.sign(x), "negative for negative x"),
    (ch02.check_relu_derivative, lambda x: ch02.activations.relu_backward(np.ones_like(x), x), "Sketch ReLU"),
    (ch02.check_perceptron_update, update_with(sign=-1.0), "wrong way"),
    (ch02.check_perceptron_update, lambda w, b, x, y, lr: (w + lr * y * x, b + lr * y), "already classifies"),
    (ch02.check_perceptron_update, lambda w, b, x, y, lr: perceptron.perceptron_update(w, b, x, y, lr), "step"),
    (ch02.check_perceptron_update, update_with(strict=True), "z = 0"),
    (ch02.check_perceptron_update, update_with(move_bias=False), "bias did not move"),
    (ch02.check_perceptron_update, update_with(use_lr=False), "learning rate"),
    (ch02.check_perceptron_update, update_with(smooth=True), "step activation"),
    (
        ch02.check_perceptron_update,  # the weight as a column: a (2, 1) never passes for a (2,)
        lambda w, b, x, y, lr: (ch02.perceptron_update(w, b, x, y, lr)[0].reshape(-1, 1), b),
        "shape it came in",
    ),
    (ch02.check_and_gate, Args(([1.0, 1.0, 1.0], -0.5)), "OR"),
    (ch02.check_and_gate, Args(([1.0, 1.0, 1.0], -1.5)), "majority"),
    (ch02.check_and_gate, Args(([1.0, 1.0], -1.5)), "one entry per input"),  # the chapter's two-input AND
    (ch02.check_and_gate, Args(([1.0, 1.0, 1.0], -5.0)), "never fires"),
    (ch02.check_and_gate, Args(([1.0, 1.0, 1.0], 0.5)), "(0, 0, 0)"),
    (ch02.check_train_perceptron, train_with(early_stop=False), "keeps going"),
    (ch02.check_train_perceptron, train_with(keep_clean_epoch=False), "last entry"),
    (ch02.check_train_perceptron, train_with(reset=False), "keep growing"),
    (ch02.check_train_perceptron, train_with(strict=True), "z = 0"),
    (ch02.check_train_perceptron, train_with(use_lr=False), "lr scales"),
    (ch02.check_train_perceptron, train_with(shuffle=True), "given order"),
    (ch02.check_train_perceptron, train_by_the_package, "given order"),  # the package's loop: refused
    (ch02.check_softplus, softplus_silenced, "Split x"),  # refused
    (ch02.check_softplus, lambda x: (np.log(1 + np.exp(x)), 1 / (1 + np.exp(-x))), "overflows"),
    (ch02.check_softplus, lambda x: (np.logaddexp(0, x), sigmoid(x)), "Split x"),  # a library's softplus: refused
    (
        ch02.check_softplus,
        lambda x: (np.maximum(x, 0) + np.log(1 + np.exp(-np.abs(x))), sigmoid(x)),
        "lose their digits",
    ),
    (ch02.check_softplus, lambda x: (ch02.solution_softplus(x)[0], 1 - sigmoid(-x)), "cancels"),
    (ch02.check_softplus, lambda x: (ch02.solution_softplus(x)[0], (x >= 0) * 1.0), "ReLU"),
    (ch02.check_softplus, lambda x: (ch02.solution_softplus(x)[0], sigmoid(-x)), "mirrored"),
    (ch02.check_softplus, lambda x: (np.maximum(x, 0), sigmoid(x)), "dropped"),
    (ch02.check_softplus, lambda x: ch02.solution_softplus(x)[::-1], "wrong order"),
    (ch02.check_softplus, lambda x: (np.maximum(x, 0) + np.log1p(np.exp(-x)), sigmoid(x)), "too large for negative x"),
    (ch02.check_softplus, softplus_where, "both of its candidate arrays"),
]


def test_wrong_answers_to_value_exercises():
    feedback = ch02.check_and_gate([1.0, 1.0, 1.0], -0.5)
    assert not feedback.passed and "OR" in feedback.hint
    assert "6 of 8 inputs" in feedback.message
    feedback = ch01.check_deep_models({"LSTM", "decision tree"})
    assert not feedback.passed and feedback.message == "That is not the right set yet; the right one has 4 names."
    assert "convolutional" not in " ".join(feedback.hints)  # the feedback never gives the answer away
    assert "decision tree" not in feedback.message  # nor which entries are wrong: submitting every name would
    everything = ch01.check_deep_models(ch01.MODELS)
    assert not everything.passed and not any(name.lower() in everything.message.lower() for name in ch01.MODELS)
    assert everything.message == feedback.message  # one name at a time or all at once: nothing to count
    for name in ch01.MODELS:  # a learner who submits one name at a time learns nothing from the messages
        assert ch01.check_deep_models({name}).message == feedback.message
    assert "set of one" in ch01.check_deep_models("LSTM").message
    for _, answer, words in [w for w in WRONG if w[0] is ch01.check_deep_models]:
        tracking.reset_attempts()
        feedback = ch01.check_deep_models(answer)
        assert not feedback.passed and words in " ".join(feedback.hints)
        assert not feedback.message[0].islower() and feedback.message.endswith(".")


def test_a_tanh_neuron_is_told_about_its_activation_not_about_z():
    tracking.reset_attempts()
    feedback = ch02.check_neuron(lambda x, w, b: float(np.tanh(np.dot(x, w) + b)))
    assert "activation" in feedback.hint and "z itself" not in feedback.hint


def test_the_exact_flop_count_gets_the_convention_hint():
    tracking.reset_attempts()
    feedback = ch01.check_matmul_flops(lambda n, k, m: (2 * k - 1) * n * m)
    assert "convention" in feedback.hint and "half" not in feedback.hint


def test_and_gate_refuses_wrong_shapes_in_one_sentence():
    for weight in ([[1.0], [1.0], [1.0]], [1.0, 1.0], "abc", None):
        feedback = ch02.check_and_gate(weight, -2.5)
        assert not feedback.passed and "expected shape (3,)" in feedback.message
    feedback = ch02.check_and_gate(*ch02.solution_and_gate, "extra")
    assert not feedback.passed and "takes 2 answers" in feedback.message
    feedback = ch02.check_and_gate(ch02.solution_and_gate)  # the pair as one answer
    assert not feedback.passed and "given 1" in feedback.message


def test_the_debug_exercise_stub_is_the_buggy_product_and_the_cases_expose_it():
    for case in ch01._matrix_cases(7)[:1]:  # the first case already shows the bug
        assert ch01.buggy_matmul(*case.args) != ch01.solution_matmul_debug(*case.args)
    for case in ch01._matrix_cases(7):
        assert ch01.solution_matmul_debug(*case.args) == np.array(case.args[0]).dot(case.args[1]).tolist()


def test_mlp_forward_flops_counts_one_layer_by_hand():
    # sizes [3, 2], batch 1: a (1, 3) @ (3, 2) product (6 multiplies, 6 adds) and 2 bias adds, no ReLU
    assert ch01.solution_mlp_forward_flops([3, 2], 1) == 14
    # a hidden layer adds its ReLU: [2, 4, 1], batch 5
    assert ch01.solution_mlp_forward_flops([2, 4, 1], 5) == (2 * 5 * 2 * 4 + 5 * 4 + 5 * 4) + (2 * 5 * 4 * 1 + 5)


def test_train_perceptron_solution_learns_what_the_package_learns_and_generalises():
    x, y = ch02_more._clouds(40, seed=6, gap=0.3, center=(-1.0, 2.0))
    weight, bias, mistakes = ch02.solution_train_perceptron(x, y, 0.1, 30)
    assert mistakes[-1] == 0 and all(m > 0 for m in mistakes[:-1])
    assert np.array_equal((x @ weight + bias >= 0).astype(float), y)  # separates the training points
    assert ch02_more.held_out_accuracy() >= 0.95
    # on XOR it never converges and runs every epoch
    _, _, mistakes = ch02.solution_train_perceptron(*ch02_more.xor(), 1.0, 6)
    assert len(mistakes) == 6 and min(mistakes) > 0
    feedback = ch02.check_train_perceptron(lambda x, y, lr, epochs: ch02.solution_train_perceptron(x, y, lr, epochs))
    assert feedback.passed and "held-out" in feedback.message


def test_softplus_slope_matches_float64_finite_differences_and_survives_extremes():
    rng = np.random.default_rng(0)
    x = 4 * rng.normal(size=(3, 4))
    g = rng.normal(size=x.shape)
    numeric = numerical_gradient(lambda v: float(np.sum(ch02.solution_softplus(v)[0] * g)), x, eps=1e-5)
    analytic = g * ch02.solution_softplus(x)[1]
    assert relative_error(numeric, analytic) < 1e-7
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, slope = ch02.solution_softplus(np.array([-1000.0, -30.0, 0.0, 1000.0]))
    np.testing.assert_allclose(value, [0.0, np.exp(-30.0), np.log(2.0), 1000.0], rtol=1e-12)
    np.testing.assert_allclose(slope, [0.0, np.exp(-30.0) / (1 + np.exp(-30.0)), 0.5, 1.0], rtol=1e-12)


def test_softplus_accepts_a_slope_from_a_clipped_sigmoid_of_exercise_2_2():
    assert ch02.check_sigmoid(sigmoid_clipped).passed
    assert ch02.check_softplus(lambda x: (ch02.solution_softplus(x)[0], sigmoid_clipped(x))).passed


def test_counts_are_compared_exactly():
    assert ch01.check_matmul_flops(lambda n, k, m: float(2 * n * k * m)).passed  # a whole float is a count
    assert ch01.check_matmul_flops(lambda n, k, m: np.int64(2 * n * k * m)).passed
    assert not ch01.check_matmul_flops(lambda n, k, m: 2 * n * k * m + 1).passed
    assert not ch01.check_count_parameters(lambda s: True).passed


def test_the_learners_own_helpers_named_like_the_package_are_fine():
    def sigmoid(x):  # the learner's own stable sigmoid, called by name
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    assert ch02.check_sigmoid(lambda x: sigmoid(x)).passed

    def matmul_flops(n, k, m):
        return 2 * n * k * m

    assert ch01.check_matmul_flops(matmul_flops).passed
    assert ch01.check_mlp_forward_flops(lambda s, b: ch01.solution_mlp_forward_flops(s, b)).passed


@given(weight=garbage, bias=garbage)
def test_and_gate_checker_never_raises(weight, bias):
    feedback = ch02.check_and_gate(weight, bias)
    assert not feedback.passed and feedback.hint


def test_exception_inside_learner_code_is_reported():
    feedback = ch02.check_sigmoid(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message
    assert "x = [-2, 0, 2]" in feedback.message  # which input failed


def test_check_value_never_reveals_the_answer():
    from dlcourse.exercises import check_value

    feedback = check_value("q", 7, 42, hint="think")
    assert not feedback.passed and "too low" in feedback.message and "42" not in str(feedback)
    feedback = check_value("q", [1.0, 2.0, 3.0], [1.0, 2.0, 4.0], hint="think")
    assert "1 of 3 entries are not right" in feedback.message and "4" not in feedback.message
    feedback = check_value("q", 40, 42, hint="think", mistakes=[(40, "off by two")])
    assert feedback.hint == "off by two"
    assert check_value("q", None, 42, hint="think").message.startswith("Your function returned None")


def test_a_mistake_that_cannot_apply_does_not_sink_the_feedback():
    from dlcourse.exercises import Case, Mistake, check_function

    def crashes(x):
        raise ValueError("shapes")

    feedback = check_function(
        "f",
        lambda x: x + 1,
        lambda x: 2 * x,
        [Case((np.array([1.0, 2.0]),), "x = [1, 2]")],
        hint="double it",
        mistakes=[Mistake(crashes, "never shown"), Mistake(lambda x: x + 1, "you added one")],
    )
    assert feedback.hint == "you added one"


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)


def test_discovery_finds_every_exercise_of_every_chapter():
    """Each chapter's checkers are found by name, so a new exercise is tested without being listed."""
    import importlib
    import inspect

    for n in range(1, 11):
        module = importlib.import_module(f"dlcourse.exercises.ch{n:02d}")
        modules = [module, *companions(module)]
        found = {checker.__name__ for checker, _ in discover(*modules)}
        defined = {
            k: v
            for m in modules
            for k, v in vars(m).items()
            if k.startswith("check_") and getattr(v, "__module__", "") == m.__name__
        }
        # a checker of several answers (check_and_gate(weight, bias)) is tested by its chapter's own module
        one_answer = {k for k, v in defined.items() if len(inspect.signature(v).parameters) == 1}
        assert found == one_answer, (n, sorted(one_answer - found))
        assert len(found) >= 4, n


HOSTILE = [
    hostile.test_a_hanging_answer_gets_a_verdict_in_time,
    hostile.test_system_exit_and_huge_messages_become_feedback,
    hostile.test_complex_or_string_outputs_never_pass,
    hostile.test_the_learners_global_settings_cannot_fail_a_correct_answer,
    hostile.test_close_answers_and_restructured_answers_never_pass,
    hostile.test_the_learners_function_runs_once_per_case,
]
MORE = discover(ch02_more)


@pytest.mark.parametrize(("checker", "solution"), MORE, ids=[c.__name__ for c, _ in MORE])
@pytest.mark.parametrize("hostile_test", HOSTILE, ids=[t.__name__ for t in HOSTILE])
def test_hostile_answers_against_the_checkers_of_ch02_more(hostile_test, checker, solution, monkeypatch):
    """tests/test_exercise_hostile.py discovers the checkers defined in ch01.py to ch10.py; the ones
    in ch02_more.py get the same treatment here."""
    monkeypatch.setattr(running, "TIME_LIMIT_S", 0.3)
    hostile_test(checker, solution)
