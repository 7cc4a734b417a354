"""Chapter 6 exercises: every solution passes, each typical wrong answer gets its hint, no checker raises."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from dlcourse.exercises import ch06, ch06_more, ch06_norm, tracking

from .exercise_suite import discover, raises_boom, standard_tests

SOLUTIONS = discover(ch06, ch06_more, ch06_norm)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]
FUNCTION_CHECKERS = [checker for checker, solution in SOLUTIONS if callable(solution)]
NOTEBOOK = Path(__file__).resolve().parents[1] / "chapters" / "06_training_in_practice.ipynb"


def test_other_correct_answers_pass():
    assert ch06.check_he_std(lambda n, a: (2 / ((1 + a * a) * n)) ** 0.5).passed
    assert ch06.check_best_epoch(lambda v: min(range(len(v)), key=v.__getitem__)).passed
    assert ch06.check_dropout_scale(lambda p: 1 / (1 - p)).passed

    def momentum_in_place(w, v, grad, lr, mu):
        v *= mu
        v += grad
        w -= lr * v
        return w, v

    assert ch06.check_momentum_step(momentum_in_place).passed
    assert ch06.check_momentum_step(lambda w, v, g, lr, mu: [w - lr * (mu * v + g), mu * v + g]).passed
    assert ch06.check_deep_tanh_settings([0.25, 0.3]).passed
    chosen, test_acc = ch06.solution_decay_choice()
    assert ch06.check_decay_choice((np.float32(chosen), round(test_acc, 3))).passed
    assert ch06.check_deep_tanh_settings((np.float32(0.18), np.float64(0.1))).passed


def test_he_std_matches_torch_kaiming_gain_for_leaky_relu():
    torch = pytest.importorskip("torch")
    for fan_in, slope in [(8, 0.0), (64, 0.2), (100, 0.5), (512, 1.0)]:
        gain = torch.nn.init.calculate_gain("leaky_relu", slope)
        assert math.isclose(ch06.solution_he_std(fan_in, slope), gain / math.sqrt(fan_in), rel_tol=1e-12)


def test_he_std_keeps_the_second_moment_of_a_leaky_relu_stack():
    rng = np.random.default_rng(0)
    for slope in (0.0, 0.3):
        h = rng.standard_normal((2000, 256))
        for _ in range(10):
            z = h @ (ch06.solution_he_std(256, slope) * rng.standard_normal((256, 256)))
            h = np.where(z > 0, z, slope * z)
        assert 0.7 < np.mean(h**2) < 1.4


def test_first_rise_is_refused_on_a_noisy_curve():
    assert ch06.solution_best_epoch([0.9, 0.5, 0.6, 0.3]) == 3
    assert not ch06.check_best_epoch(lambda v: next((i - 1 for i in range(1, len(v)) if v[i] > v[i - 1]), 0)).passed


def test_momentum_compares_each_part_with_its_shape():
    def sol(w, v, g, lr, mu):
        return ch06.solution_momentum_step(w, v, g, lr, mu)

    assert not ch06.check_momentum_step(lambda *a: (np.concatenate([np.ravel(p) for p in sol(*a)]), [])).passed
    assert not ch06.check_momentum_step(lambda *a: (sol(*a)[0].reshape(1, -1), sol(*a)[1].reshape(-1, 1))).passed


def test_the_broken_loop_measures_higher_validation_losses_at_every_epoch():
    x_train, y_train = ch06_more.blobs(10, 200)
    x_val, y_val = ch06_more.blobs(20, 100)
    good, good_best = ch06.solution_keep_best(x_train, y_train, x_val, y_val, 12, 0)
    bad, _ = ch06_more.broken_keep_best(x_train, y_train, x_val, y_val, 12, 0)
    assert len(good) == 12 and good[good_best] == min(good)
    assert np.all(np.array(bad) > np.array(good))


def test_the_deep_tanh_diagnoses_follow_the_measurements():
    faded = ch06_more.train_deep_tanh(0.01, 0.1)
    saturated = ch06_more.train_deep_tanh(1.0, 0.1)
    good = ch06_more.train_deep_tanh(*ch06.solution_deep_tanh_settings)
    assert faded.last_std < 0.02 and saturated.saturated > 0.25
    assert 0.02 < good.last_std and good.saturated < 0.25 and good.val_acc >= ch06_more.TARGET
    assert good.train_loss.shape == (ch06_more.STEPS,) and "validation accuracy" in repr(good)


RUNS = {decay: ch06.decay_run(decay) for decay in ch06.DECAYS}  # the weight-decay sweep, cached
CHOSEN = ch06.solution_decay_choice()[0]
BY_TEST = max(ch06.DECAYS, key=lambda d: RUNS[d].test_acc)
BY_TRAIN = min(ch06.DECAYS, key=lambda d: RUNS[d].train_loss)


def test_a_pair_may_be_an_array_of_two_numbers():
    chosen, test_acc = ch06.solution_decay_choice()
    assert ch06.check_decay_choice(np.array([chosen, test_acc])).passed
    assert ch06.check_deep_tanh_settings(np.array(ch06.solution_deep_tanh_settings)).passed
    assert not ch06.check_decay_choice(np.array([chosen, test_acc, 0.0])).passed


def test_deep_tanh_is_graded_on_test_points_and_reports_only_validation_on_a_failure():
    failed = ch06.check_deep_tanh_settings((math.sqrt(1 / 32), 0.003))
    runs = [ch06_more.train_deep_tanh(math.sqrt(1 / 32), 0.003, seed) for seed in ch06_more.SEEDS]
    assert not failed.passed and all(f"{run.val_acc:.3f}" in failed.message for run in runs), str(failed)
    passed = ch06.check_deep_tanh_settings(ch06.solution_deep_tanh_settings)
    assert passed.passed and "test points" in passed.message, str(passed)


def test_the_decay_sweep_separates_validation_test_and_training_choices():
    assert len({CHOSEN, BY_TEST, BY_TRAIN}) == 3
    assert CHOSEN not in (min(ch06.DECAYS), max(ch06.DECAYS))  # an inner optimum
    assert ch06.decay_run(CHOSEN) is RUNS[CHOSEN]  # cached: the checker does not retrain


def test_the_batchnorm_solution_is_torchs_batchnorm2d_on_every_case():
    torch = pytest.importorskip("torch")
    for case in ch06_norm._cases():
        x, weight, bias, running_mean, running_var, training, momentum, eps = case.args
        layer = torch.nn.BatchNorm2d(x.shape[1], eps=eps, momentum=momentum).double().train(training)
        for name, value in (
            ("weight", weight),
            ("bias", bias),
            ("running_mean", running_mean),
            ("running_var", running_var),
        ):
            getattr(layer, name).data = torch.tensor(value)
        expected = (layer(torch.tensor(x)).detach().numpy(), layer.running_mean.numpy(), layer.running_var.numpy())
        for mine, theirs in zip(ch06.solution_batchnorm_step(*case.args), expected, strict=True):
            np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-14)
    shapes = [(case.args[0].shape, case.args[5]) for case in ch06_norm._cases()]
    assert any(not training for _, training in shapes)  # an evaluation case too
    assert any(shape[0] == 1 and training for shape, training in shapes)  # one image: N*H*W > 1 all the same
    assert all(shape[0] * shape[2] * shape[3] >= 2 for shape, training in shapes if training)


def test_the_batchnorm_cases_tell_the_stubs_two_bugs_apart():
    """On the first case, each of the stub's bugs alone changes the result, and so do both together."""
    case = ch06_norm._cases()[0]
    right = ch06.solution_batchnorm_step(*case.args)
    for bug in (
        ch06_norm.broken_batchnorm_step,
        ch06_norm._variant(mixed_channels=True),
        ch06_norm._variant(count="n"),
    ):
        assert not all(np.allclose(a, b) for a, b in zip(bug(*case.args), right, strict=True))
    assert case.args[0].shape[2] * case.args[0].shape[3] > 1  # a reshape that mixes channels shows


def test_the_batchnorm_solution_refuses_a_training_batch_of_one_value_per_channel():
    x = np.ones((1, 2, 1, 1))
    with pytest.raises(ValueError, match=r"^x must hold at least 2 values per channel.*\.$"):
        ch06.solution_batchnorm_step(x, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), True)
    out, _, _ = ch06.solution_batchnorm_step(x, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), False)
    assert out.shape == x.shape  # evaluation mode needs no batch statistics


def test_the_notebooks_batchnorm_stub_is_the_broken_step_and_fails_with_the_first_hint(tmp_path):
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    stub = next(
        "".join(c["source"]) for c in cells if c["cell_type"] == "code" and "def batchnorm_step" in "".join(c["source"])
    )
    path = tmp_path / "stub.py"  # a file, so that the checker can read the stub's source as in a notebook
    path.write_text("import numpy as np\n\n" + stub.split("ch06.check_batchnorm_step")[0])  # not the call
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    for case in ch06_norm._cases():
        with np.errstate(divide="ignore"):  # the stub divides by N - 1 = 0 on the batch of one image
            for a, b in zip(
                namespace["batchnorm_step"](*case.args), ch06_norm.broken_batchnorm_step(*case.args), strict=True
            ):
                np.testing.assert_allclose(a, b, rtol=1e-12)
    tracking.reset_attempts()
    feedback = ch06.check_batchnorm_step(namespace["batchnorm_step"])
    assert not feedback.passed and feedback.hint == feedback.hints[0], str(feedback)
    assert "Compare each of the three parts" in feedback.hint


def _batchnorm_in_place(x, weight, bias, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """A correct answer in another style: statistics over axes (0, 2, 3), running averages updated in place."""
    axes = (0, 2, 3)
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * x.var(axis=axes, ddof=1)
    else:
        mean, var = running_mean, running_var
    shape = (1, -1, 1, 1)  # (1, C, 1, 1): broadcasts over N, H and W
    return (
        (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * weight.reshape(shape) + bias.reshape(shape),
        running_mean,
        running_var,
    )


def _batchnorm_by_the_library(x, weight, bias, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    from dlcourse.numpy import norm

    out, _ = norm.batchnorm_forward(x, weight, bias, running_mean, running_var, training, momentum, eps)
    return out, running_mean, running_var


def test_batchnorm_step_accepts_other_correct_styles_and_refuses_the_finished_layer():
    assert ch06.check_batchnorm_step(_batchnorm_in_place).passed
    refused = ch06.check_batchnorm_step(_batchnorm_by_the_library)
    assert not refused.passed and "batchnorm_forward" in refused.message, str(refused)
    case = ch06_norm._cases()[0]
    assert _batchnorm_by_the_library(*case.args)[0].shape == case.args[0].shape  # it would have been right


def _batchnorm_by_torch(call):
    """A correct answer that hands the work to one of PyTorch's batch-norm routes, ``call(x, weight, bias,
    running_mean, running_var, training, momentum, eps) -> out`` on float64 tensors."""

    def step(x, weight, bias, running_mean, running_var, training, momentum=0.1, eps=1e-5):
        import torch

        t = [torch.tensor(a, dtype=torch.float64) for a in (x, weight, bias, running_mean, running_var)]
        out = call(*t, training, momentum, eps)  # updates t[3] and t[4], the running statistics, in place
        return out.numpy(), t[3].numpy(), t[4].numpy()

    return step


def _torch_module(cls):
    def call(x, w, b, rm, rv, training, momentum, eps):
        import torch

        layer = cls(x.shape[1], eps=eps, momentum=momentum).double().train(training)
        with torch.no_grad():
            layer.weight.copy_(w), layer.bias.copy_(b), layer.running_mean.copy_(rm), layer.running_var.copy_(rv)
            out = layer(x)
        rm.copy_(layer.running_mean), rv.copy_(layer.running_var)
        return out

    return call


def _native(x, w, b, rm, rv, training, momentum, eps):
    import torch

    return torch.native_batch_norm(x, w, b, rm, rv, training, momentum, eps)[0]


def _aten(x, w, b, rm, rv, training, momentum, eps):
    import torch

    return torch.ops.aten.native_batch_norm.default(x, w, b, rm, rv, training, momentum, eps)[0]


def _legit(x, w, b, rm, rv, training, momentum, eps):
    import torch

    if training:
        return torch._native_batch_norm_legit(x, w, b, rm, rv, training, momentum, eps)[0]
    return torch._native_batch_norm_legit_no_training(x, w, b, rm, rv, momentum, eps)[0]


def _functional(x, w, b, rm, rv, training, momentum, eps):
    from torch.nn import functional as fn  # the name batch_norm never appears

    return getattr(fn, "batch_" + "norm")(x, rm, rv, w, b, training, momentum, eps)


def _three_d(x, w, b, rm, rv, training, momentum, eps):
    import torch

    out = _torch_module(torch.nn.BatchNorm3d)(x[..., None], w, b, rm, rv, training, momentum, eps)
    return out[..., 0]


@pytest.mark.parametrize("call", [_native, _aten, _legit, _functional, _three_d], ids=lambda f: f.__name__.strip("_"))
def test_batchnorm_step_refuses_every_torch_batchnorm_route(call):
    """Each of these gives the right numbers; the exercise asks for the stub's arithmetic, fixed."""
    pytest.importorskip("torch")
    answer = _batchnorm_by_torch(call)
    for case in ch06_norm._cases():
        for mine, right in zip(answer(*case.args), ch06.solution_batchnorm_step(*case.args), strict=True):
            np.testing.assert_allclose(mine, right, rtol=1e-9, atol=1e-12)  # right: only the route refuses it
    feedback = ch06.check_batchnorm_step(answer)
    assert not feedback.passed and "uses" in feedback.message and "torch" in feedback.message, str(feedback)


def _batchnorm_with_a_fixed_eps(x, weight, bias, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Right for the default eps only: the eps it is given is ignored."""
    return _batchnorm_in_place(x, weight, bias, running_mean, running_var, training, momentum, 1e-5)


def test_batchnorm_step_varies_eps_so_a_hard_coded_eps_fails():
    assert any(case.args[7] != 1e-5 for case in ch06_norm._cases())
    feedback = ch06.check_batchnorm_step(_batchnorm_with_a_fixed_eps)
    assert not feedback.passed and "eps" in feedback.message, str(feedback)
    assert "where your eps comes from" in feedback.hint, str(feedback)


# (checker, typical wrong answer, words its hint contains at some stage)
def _momentum(w, v, g, lr, mu):
    return ch06.solution_momentum_step(w, v, g, lr, mu)


WRONG = [
    (ch06.check_he_std, lambda n, a: np.sqrt(2 / n), "slope changes nothing"),
    (ch06.check_he_std, lambda n, a: np.sqrt(2 / ((1 + a) * n)), "enters squared"),
    (ch06.check_he_std, lambda n, a: 2 / ((1 + a**2) * n), "looks like a variance"),
    (ch06.check_he_std, lambda n, a: np.sqrt(1 / n), "keeps the whole signal"),
    (ch06.check_he_std, lambda n, a: np.sqrt(2 / (1 + a**2)) / n, "dependence on fan_in"),
    (ch06.check_momentum_step, lambda w, v, g, lr, mu: (w - lr * g, v), "plain SGD"),
    (ch06.check_momentum_step, lambda w, v, g, lr, mu: (w - lr * g, g), "remember the past"),
    (ch06.check_momentum_step, lambda w, v, g, lr, mu: (w - lr * (mu * v + g), g), "returned velocity forgets"),
    (ch06.check_momentum_step, lambda w, v, g, lr, mu: (w - lr * v, mu * v + g), "OLD velocity"),
    (
        ch06.check_momentum_step,
        lambda w, v, g, lr, mu: (w - lr * (mu * v + (1 - mu) * g), mu * v + (1 - mu) * g),
        "moving-average form",
    ),
    (ch06.check_momentum_step, lambda w, v, g, lr, mu: (w + mu * v - lr * g, mu * v - lr * g), "other common form"),
    (
        ch06.check_momentum_step,
        lambda *a: (np.concatenate([np.ravel(p) for p in _momentum(*a)]), []),
        "Return both, each the shape of w",
    ),
    (
        ch06.check_momentum_step,
        lambda *a: (_momentum(*a)[0].reshape(1, -1), _momentum(*a)[1].reshape(-1, 1)),
        "each the shape of w",
    ),
    (ch06.check_adam_bias_correction, lambda m, t, b: m, "No correction"),
    (ch06.check_adam_bias_correction, lambda m, t, b: m * (1 - b**t), "divide by it instead"),
    (ch06.check_adam_bias_correction, lambda m, t, b: m / (1 - b), "depend on the step"),
    (ch06.check_dropout_scale, lambda p: 1 - p, "scales the survivors UP"),
    (ch06.check_dropout_scale, lambda p: 1 / p, "DROPPING"),
    (ch06.check_dropout_scale, lambda p: p, "drop probability, not the scale"),
    (ch06.check_best_epoch, lambda v: len(v) - 1, "last epoch"),
    (ch06.check_best_epoch, lambda v: int(np.argmax(v)), "highest validation loss"),
    (ch06.check_best_epoch, lambda v: int(np.argmin(v)) + 1, "from 0"),
    (ch06.check_best_epoch, lambda v: len(v) - 1 - int(np.argmin(v[::-1])), "earlier epoch"),
    (
        ch06.check_best_epoch,
        lambda v: next((i - 1 for i in range(1, len(v)) if v[i] > v[i - 1]), len(v) - 1),
        "first rise",
    ),
    (ch06.check_keep_best, ch06_more.broken_keep_best, "during training and during measurement"),
    (ch06.check_keep_best, ch06_more._keep_best_variant(True, False), "stays in evaluation mode"),
    (ch06.check_keep_best, ch06_more._keep_best_variant(True, True, measure_on_train=True), "epoch by epoch"),
    (ch06.check_keep_best, lambda *a: (ch06.solution_keep_best(*a)[0], ch06.solution_keep_best(*a)[1] + 1), "epoch"),
    (ch06.check_decay_choice, (BY_TEST, RUNS[BY_TEST].test_acc), "optimistic estimate"),
    (ch06.check_decay_choice, (BY_TRAIN, RUNS[BY_TRAIN].test_acc), "memorising"),
    (ch06.check_decay_choice, (CHOSEN, RUNS[CHOSEN].val_acc), "validation number"),
    (ch06.check_decay_choice, [CHOSEN, RUNS[BY_TEST].test_acc], "whole sweep"),
    (ch06.check_decay_choice, (0.02, 0.7), "Which set is there"),
    (ch06.check_decay_choice, (CHOSEN, 100 * RUNS[CHOSEN].test_acc), "as a fraction"),
    (ch06.check_keep_best, ch06_more._keep_best_variant(True, False), "predict"),
    (ch06.check_deep_tanh_settings, (0.01, 0.1), "signal fades"),
    (ch06.check_deep_tanh_settings, (1.0, 0.1), "saturated"),
    (ch06.check_deep_tanh_settings, (math.sqrt(1 / 32), 3.0), "shot up"),
    (ch06.check_deep_tanh_settings, (math.sqrt(1 / 32), 0.003), "not far enough"),
    (ch06.check_deep_tanh_settings, ("0.2", 0.1), "Two things can stop"),
    (ch06.check_batchnorm_step, ch06_norm.broken_batchnorm_step, "column 0 of the reshaped array"),
    (ch06.check_batchnorm_step, ch06_norm._variant(mixed_channels=True), "Move the channel axis"),
    (ch06.check_batchnorm_step, ch06_norm._variant(count="n"), "N*H*W values, not N"),
    (ch06.check_batchnorm_step, ch06_norm._variant(count="size"), "x.size counts"),
    (ch06.check_batchnorm_step, ch06_norm._variant(count="none"), "unbiased one (divided by the count minus one)"),
    (ch06.check_batchnorm_step, ch06_norm._variant(running_in_training=True), "not with the running averages"),
    (ch06.check_batchnorm_step, ch06_norm._variant(keras_momentum=True), "weight of the NEW batch statistic"),
    (ch06.check_batchnorm_step, ch06_norm._variant(unbiased_normalisation=True), "which variance normalises"),
    (ch06.check_batchnorm_step, ch06_norm._variant(batch_in_eval=True), "must not depend on the other examples"),
    (ch06.check_batchnorm_step, ch06_norm._variant(no_eps=True), "barely varies"),
    (ch06.check_batchnorm_step, lambda *a: ch06.solution_batchnorm_step(*a)[:2], "Compare each of the three parts"),
]


@pytest.mark.parametrize("checker", FUNCTION_CHECKERS, ids=lambda f: f.__name__)
def test_stub_returning_none_is_told_to_return(checker):
    feedback = checker(lambda *args: None)
    assert not feedback.passed
    assert "return" in feedback.hint or "forget the `return`" in feedback.message


@pytest.mark.parametrize("checker", FUNCTION_CHECKERS, ids=lambda f: f.__name__)
def test_exception_inside_learner_code_is_reported(checker):
    feedback = checker(raises_boom)
    assert not feedback.passed and "raised RuntimeError: boom" in feedback.message


def test_hints_do_not_give_the_formula_away():
    for checker in CHECKERS:
        text = str(checker(lambda *args: np.float64(123.0)))
        for formula in ("sqrt(2 / fan_in)", "1 / (1 - p)", "mu * v + grad", "argmin", "/ (1 - beta1**t)"):
            assert formula not in text, (checker.__name__, formula)


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)
