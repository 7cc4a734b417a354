"""DQN in both trees: TD targets, the loss and its backward, NumPy against PyTorch, and an agent that learns."""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from dlcourse import rl
from dlcourse.gradcheck import relative_error
from dlcourse.numpy import dqn as np_dqn
from dlcourse.torch import dqn as torch_dqn

from .helpers import assert_backward

SMALL = replace(rl.DQNConfig(), hidden=(16, 16), lr=1e-2)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread is fastest, and on a busy machine more threads only fight each other
    (PyTorch's pool made one update ten times slower in a measurement here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


def random_batch(seed: int, n: int = 32, obs_dim: int = 4, n_actions: int = 2) -> rl.Batch:
    rng = np.random.default_rng(seed)
    return rl.Batch(
        rng.normal(size=(n, obs_dim)).astype(np.float32),
        rng.integers(0, n_actions, size=n),
        rng.normal(size=n).astype(np.float32),
        rng.normal(size=(n, obs_dim)).astype(np.float32),
        (rng.random(n) < 0.2).astype(np.float32),
    )


def twin_agents(config: rl.DQNConfig = SMALL, seed: int = 0):
    """A NumPy agent and a PyTorch agent (on the CPU) built from equal generators: identical weights."""
    return (
        np_dqn.DQNAgent(4, 2, np.random.default_rng(seed), config),
        torch_dqn.DQNAgent(4, 2, np.random.default_rng(seed), config, device="cpu"),
    )


# ----------------------------------------------------------------------------- TD target


def test_td_target_by_hand():
    rewards = np.array([1.0, 1.0, 0.0])
    next_q = np.array([[2.0, 3.0], [5.0, 4.0], [-1.0, -2.0]])
    terminated = np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(np_dqn.td_target(rewards, next_q, terminated, 0.5), [2.5, 1.0, -0.5])
    # Double DQN: the online network picks the action, the target network values it.
    online = np.array([[9.0, 0.0], [0.0, 9.0], [0.0, 9.0]])
    np.testing.assert_allclose(np_dqn.td_target(rewards, next_q, terminated, 0.5, online), [2.0, 1.0, -1.0])
    for args in ((rewards, next_q, terminated, 0.5), (rewards, next_q, terminated, 0.5, online)):
        got = torch_dqn.td_target(*(torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args))
        np.testing.assert_allclose(got.numpy(), np_dqn.td_target(*args))


def test_td_target_checks_shapes():
    with pytest.raises(ValueError, match=r"rewards must have shape \(3,\), got \(2,\)"):
        np_dqn.td_target(np.zeros(2), np.zeros((3, 2)), np.zeros(3), 0.9)
    with pytest.raises(ValueError, match=r"terminated must have shape \(3,\)"):
        torch_dqn.td_target(torch.zeros(3), torch.zeros(3, 2), torch.zeros(4), 0.9)


# ----------------------------------------------------------------------------- the loss and its backward


@given(
    n=st.integers(1, 8),
    a=st.integers(1, 4),
    scale=st.sampled_from([0.1, 1.0, 5.0]),
    kind=st.sampled_from(["huber", "mse"]),
    seed=st.integers(0, 1000),
)
def test_q_loss_backward_matches_finite_differences(n, a, scale, kind, seed):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, a)) * scale
    actions, targets = rng.integers(0, a, size=n), rng.normal(size=n) * scale
    diff = q[np.arange(n), actions] - targets
    if kind == "huber" and np.any(np.abs(np.abs(diff) - 1) < 1e-3):
        return  # the Huber kink at |d| = 1: finite differences straddle it
    _, cache = np_dqn.q_loss_forward(q, actions, targets, kind)
    analytic = np_dqn.q_loss_backward(1.0, cache)
    (numeric,) = assert_backward(
        lambda z: np_dqn.q_loss_forward(z, actions, targets, kind),
        lambda _: analytic,
        q,
        upstream=1.0,
        rtol=1e-5,
        atol=1e-9,
    )
    assert relative_error(analytic, numeric) < 1e-6
    untaken = np.ones((n, a), bool)
    untaken[np.arange(n), actions] = False
    assert np.all(analytic[untaken] == 0)  # no target for actions not taken, no gradient


@pytest.mark.parametrize("kind", ["huber", "mse"])
def test_torch_loss_matches_numpy_autograd_and_functional(kind):
    rng = np.random.default_rng(1)
    q, actions, targets = rng.normal(size=(10, 3)) * 3, rng.integers(0, 3, size=10), rng.normal(size=10)
    np_loss, np_cache = np_dqn.q_loss_forward(q, actions, targets, kind)
    qt = torch.tensor(q, requires_grad=True)
    loss, cache = torch_dqn.q_loss_forward(qt, torch.as_tensor(actions), torch.as_tensor(targets), kind)
    loss.backward()
    chosen = qt[torch.arange(10), torch.as_tensor(actions)]
    functional = torch.nn.functional.smooth_l1_loss if kind == "huber" else torch.nn.functional.mse_loss
    assert loss.item() == pytest.approx(np_loss, rel=1e-12)
    assert loss.item() == pytest.approx(functional(chosen, torch.as_tensor(targets)).item(), rel=1e-12)
    np.testing.assert_allclose(qt.grad.numpy(), np_dqn.q_loss_backward(1.0, np_cache), rtol=1e-12)
    np.testing.assert_allclose(torch_dqn.q_loss_backward(1.0, cache).numpy(), qt.grad.numpy(), rtol=1e-12)


def test_q_loss_rejects_bad_input():
    q = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"actions must hold integers in \[0, 2\)"):
        np_dqn.q_loss_forward(q, np.array([0, 2, 1]), np.zeros(3))
    with pytest.raises(ValueError, match=r"actions must hold integers in \[0, 2\)"):
        torch_dqn.q_loss_forward(torch.zeros(3, 2), torch.tensor([0.0, 1.0, 1.0]), torch.zeros(3))
    with pytest.raises(ValueError, match="kind must be one of"):
        np_dqn.q_loss_forward(q, np.array([0, 1, 1]), np.zeros(3), kind="l1")
    with pytest.raises(ValueError, match=r"targets must have shape \(3,\)"):
        torch_dqn.q_loss_forward(torch.zeros(3, 2), torch.tensor([0, 1, 1]), torch.zeros(2))
    with pytest.raises(ValueError, match="config.loss must be one of"):
        np_dqn.DQNAgent(4, 2, np.random.default_rng(0), replace(SMALL, loss="l1"))


# ----------------------------------------------------------------------------- NumPy against PyTorch


def test_both_trees_give_the_same_q_values():
    np_agent, torch_agent = twin_agents()
    obs = np.random.default_rng(2).normal(size=(7, 4)).astype(np.float32)
    np.testing.assert_allclose(np_agent.q_values(obs), torch_agent.q_values(obs), rtol=1e-5, atol=1e-6)
    assert np_agent.q_values(obs[0]).shape == (2,) and torch_agent.q_values(obs[0]).shape == (2,)
    assert [np_agent.greedy(o) for o in obs] == [torch_agent.greedy(o) for o in obs]


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("loss, max_grad_norm", [("huber", 10.0), ("mse", 0.1)])
def test_one_update_is_identical_in_both_trees(double, loss, max_grad_norm):
    config = replace(SMALL, double=double, loss=loss, max_grad_norm=max_grad_norm)
    np_agent, torch_agent = twin_agents(config)
    np_agent.q.load_state_dict(
        {k: v * 3 for k, v in np_agent.state_dict().items()}
    )  # larger errors: both Huber regimes
    torch_agent.load_state_dict({k: torch.from_numpy(v) for k, v in np_agent.state_dict().items()})
    np_agent.sync_target()
    before = np_agent.state_dict()
    for step in range(3):  # three steps: Adam's state must agree too; the target stays put
        batch = random_batch(step)
        np_loss, torch_loss = np_agent.update(batch), torch_agent.update(batch)
        assert np_loss == pytest.approx(torch_loss, rel=1e-5)
        grads = {name: p.grad for name, p in np_agent.q.named_parameters()}
        for name, p in torch_agent.q.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), grads[name], rtol=1e-4, atol=1e-6)
        after = {k: v.numpy() for k, v in torch_agent.state_dict().items()}
        for name, value in np_agent.state_dict().items():
            np.testing.assert_allclose(after[name], value, rtol=1e-4, atol=1e-6)
    assert not np.allclose(np_agent.state_dict()["0.weight"], before["0.weight"])  # it did move
    np.testing.assert_array_equal(np_agent.target.state_dict()["0.weight"], before["0.weight"])
    np_agent.sync_target()
    np.testing.assert_array_equal(np_agent.target.state_dict()["0.weight"], np_agent.state_dict()["0.weight"])


def test_act_explores_with_the_agents_generator():
    np_agent, torch_agent = twin_agents()
    obs = np.array([0.1, -0.2, 0.05, 0.3], dtype=np.float32)  # not 0: with zero biases all values would tie
    actions_np = [np_agent.act(obs, 0.5) for _ in range(200)]
    actions_torch = [torch_agent.act(obs, 0.5) for _ in range(200)]
    assert actions_np == actions_torch  # the same generator, the same coin flips
    assert set(actions_np) == {0, 1}
    assert all(np_agent.act(obs, 0.0) == np_agent.greedy(obs) for _ in range(20))


def test_torch_agent_lives_on_its_device():
    agent = torch_dqn.DQNAgent(4, 2, np.random.default_rng(0), SMALL)
    assert all(p.device.type == agent.device.type for p in agent.q.parameters())
    assert all(not p.requires_grad for p in agent.target.parameters())
    agent.update(random_batch(0))  # NumPy batches go to the device and back without complaint
    with pytest.raises(ValueError, match=r"^device 'cuda' is not available to the NumPy tree, which runs on the CPU"):
        np_dqn.DQNAgent(4, 2, np.random.default_rng(0), SMALL, device="cuda")


# ----------------------------------------------------------------------------- learning


# The chapter's small-budget settings. Over seeds 0-3, 5,000 steps took the greedy return from
# about 10 to between 118 and 170 (a random policy: about 22).
LEARN = replace(
    rl.DQNConfig(),
    hidden=(128, 128),
    lr=1e-3,
    learning_starts=500,
    train_every=4,
    gradient_steps=1,
    target_update_every=100,
    exploration_fraction=0.1,
)


@pytest.mark.parametrize("tree", ["numpy", "torch"])
def test_dqn_learns_to_balance_the_pole(tree):
    env, eval_env = gym.make("CartPole-v1"), gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    agent = np_dqn.DQNAgent(4, 2, rng, LEARN) if tree == "numpy" else torch_dqn.DQNAgent(4, 2, rng, LEARN, "cpu")
    before = rl.evaluate(eval_env, agent.greedy, 10, seed=0).mean()
    history = rl.train_dqn(agent, env, 5_000, seed=0, eval_env=eval_env, eval_every=1_000, progress=False)
    agent.load_state_dict(history.best_state)
    after = rl.evaluate(eval_env, agent.greedy, 10, seed=0).mean()
    assert before < 50  # an untrained network drops the pole within a few dozen steps
    assert after >= 100, (before, after, history.eval_returns)  # five times what random pushes get


# ----------------------------------------------------------------------------- bad input


BAD_CALLS = {
    "q_values_shape": (lambda m, a: a.q_values(np.zeros(3)), ValueError, r"^obs must have shape \(4,\) or \(N, 4\)"),
    "greedy_batch": (lambda m, a: a.greedy(np.zeros((2, 4))), ValueError, r"^obs must have shape \(4,\), got \(2, 4\)"),
    "act_nan": (lambda m, a: a.act(np.array([0.0, np.nan, 0.0, 0.0]), 0.1), ValueError, "^obs must hold finite"),
    "act_str": (lambda m, a: a.act(np.array(["a", "b", "c", "d"]), 0.1), TypeError, "^obs must hold real numbers"),
    "act_epsilon": (lambda m, a: a.act(np.zeros(4), 1.5), ValueError, r"^epsilon must be in \[0, 1\]"),
    "update_short": (lambda m, a: a.update(tuple(random_batch(0))[:4]), TypeError, "^batch must be a Batch"),
    "update_nan": (
        lambda m, a: a.update(random_batch(0)._replace(rewards=np.full(32, np.nan))),
        ValueError,
        "^batch.rewards contains NaN",
    ),
    "update_actions": (
        lambda m, a: a.update(random_batch(0)._replace(actions=np.full(32, 2))),
        ValueError,
        r"^batch.actions must hold integers in \[0, 2\), got values from 2 to 2\.$",
    ),
    "load_missing": (lambda m, a: a.load_state_dict({}), ValueError, "^state must hold the network's weights"),
    "load_shape": (
        lambda m, a: a.load_state_dict({k: np.zeros(3) for k in a.state_dict()}),
        ValueError,
        r"^state\['0.weight'\] must have shape \(4, 16\)",
    ),
    "td_terminated": (
        lambda m, a: m.td_target(np.zeros(3), np.zeros((3, 2)), np.array([0, 2, 0]), 0.9),
        ValueError,
        "^terminated must hold 0 or 1",
    ),
    "td_gamma": (
        lambda m, a: m.td_target(np.zeros(3), np.zeros((3, 2)), np.zeros(3), "0.9"),
        TypeError,
        "^gamma must be a real number",
    ),
    "loss_negative_action": (
        lambda m, a: m.q_loss_forward(np.zeros((3, 2)), np.array([0, -1, 1]), np.zeros(3)),
        ValueError,
        r"^actions must hold integers in \[0, 2\), got values from -1 to 1\.$",
    ),
    "loss_kind": (lambda m, a: m.q_loss_forward(np.zeros((1, 2)), [0], [0.0], ["huber"]), ValueError, "^kind must be"),
    "backward_dout": (
        lambda m, a: m.q_loss_backward("1", m.q_loss_forward(np.zeros((1, 2)), [0], [0.0])[1]),
        TypeError,
        "^dout must be a real number",
    ),
    "network_hidden": (lambda m, a: m.q_network(4, 2, None, np.random.default_rng(0)), TypeError, "^hidden must be a"),
    "network_huge": (lambda m, a: m.q_network(2**62, 2, (8,), np.random.default_rng(0)), ValueError, "^obs_dim must"),
    "config": (
        lambda m, a: m.DQNAgent(4, 2, np.random.default_rng(0), "fast"),
        TypeError,
        "^config must be a DQNConfig",
    ),
    "config_hidden_iterator": (  # an iterator would be used up by the check, leaving no hidden layers
        lambda m, a: m.DQNAgent(4, 2, np.random.default_rng(0), replace(SMALL, hidden=iter([8]))),
        TypeError,
        r"^config.hidden must be a tuple or list of layer widths such as \(256, 256\), got a list_iterator",
    ),
    "config_hidden_set": (
        lambda m, a: m.DQNAgent(4, 2, np.random.default_rng(0), replace(SMALL, hidden={8})),
        TypeError,
        r"^config.hidden must be a tuple or list of layer widths such as \(256, 256\), got \{8\}\.$",
    ),
    "network_hidden_dict": (
        lambda m, a: m.q_network(4, 2, {8: 8}, np.random.default_rng(0)),
        TypeError,
        r"^hidden must be a tuple or list of layer widths",
    ),
    "greedy_beyond_float32": (
        lambda m, a: a.greedy(np.full(4, 1e308)),
        ValueError,
        r"^obs must hold numbers that fit in float32 \(at most 3\.403e\+38 in size\), got larger ones at 4 position",
    ),
    "act_beyond_float32": (
        lambda m, a: a.act(np.full(4, 1e308), 0.1),
        ValueError,
        r"^obs must hold numbers that fit in float32 \(at most 3\.403e\+38 in size\), got larger ones at 4 position",
    ),
    "greedy_nan_values": (  # float32 holds 3e38, but the network overflows on it
        lambda m, a: a.greedy(np.full(4, 3e38)),
        ValueError,
        r"^obs gives NaN Q-values \(the network overflowed on it\); no action would count as the highest\.$",
    ),
    "act_nan_values": (
        lambda m, a: a.act(np.full(4, 3e38), 0.1),
        ValueError,
        r"^obs gives NaN Q-values \(the network overflowed on it\); no action would count as the highest\.$",
    ),
    "update_empty": (
        lambda m, a: a.update(rl.Batch(*(x[:0] for x in random_batch(0)))),
        ValueError,
        r"^batch.obs is empty \(shape \(0, 4\)\); a loss needs at least one value to average\.$",
    ),
    "update_inf": (
        lambda m, a: a.update(random_batch(0)._replace(next_obs=np.full((32, 4), np.inf))),
        ValueError,
        r"^batch.next_obs must hold finite numbers, got NaN or infinity at 128 position\(s\)\.$",
    ),
    "update_beyond_float32": (
        lambda m, a: a.update(random_batch(0)._replace(rewards=np.full(32, 1e300))),
        ValueError,
        r"^batch.rewards must hold numbers that fit in float32 .*, got larger ones at 32 position\(s\)\.$",
    ),
    "huge_kind": (
        lambda m, a: m.q_loss_forward(np.zeros((1, 2)), [0], [0.0], kind="x" * 10**5),
        ValueError,
        r"^kind must be one of \('huber', 'mse'\), got a str\.$",
    ),
    "huge_loss": (
        lambda m, a: m.DQNAgent(4, 2, np.random.default_rng(0), replace(SMALL, loss="x" * 10**5)),
        ValueError,
        r"^config.loss must be one of \('huber', 'mse'\), got a str\.$",
    ),
    "huge_hidden": (
        lambda m, a: m.q_network(4, 2, "8" * 10**5, np.random.default_rng(0)),
        TypeError,
        r"^hidden must be a tuple or list of layer widths such as \(256, 256\), got a str\.$",
    ),
    "huge_device": (
        lambda m, a: m.DQNAgent(4, 2, np.random.default_rng(0), SMALL, device=["cpu"] * 10**5),
        TypeError,
        r"^device must be None, a name such as 'cpu' or 'cuda', or a torch.device, got a list\.$",
    ),
    "huge_device_name": (
        lambda m, a: m.DQNAgent(4, 2, np.random.default_rng(0), SMALL, device="x" * 10**5),
        ValueError,
        r"^device must name a device such as 'cpu', 'cuda' or 'mps', got a str\.$",
    ),
    "config_lr": (
        lambda m, a: m.DQNAgent(4, 2, np.random.default_rng(0), replace(SMALL, lr=0.0)),
        ValueError,
        "^config.lr must be a positive number",
    ),
}


@pytest.mark.filterwarnings("ignore:.* encountered in matmul:RuntimeWarning")  # NumPy's own, before the error
@pytest.mark.parametrize("case", BAD_CALLS)
def test_both_trees_refuse_bad_input_with_the_same_sentence(case):
    call, error, pattern = BAD_CALLS[case]
    messages = []
    for module, agent in zip((np_dqn, torch_dqn), twin_agents(), strict=True):
        with pytest.raises(error, match=pattern) as info:
            call(module, agent)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_torch_agent_refuses_a_device_it_cannot_use():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="^device must be None, a name such as 'cpu'"):
        torch_dqn.DQNAgent(4, 2, rng, SMALL, device=3)
    with pytest.raises(ValueError, match="^device must name a device"):
        torch_dqn.DQNAgent(4, 2, rng, SMALL, device="gpu0")
    with pytest.raises(ValueError, match="is not available on this machine"):
        torch_dqn.DQNAgent(4, 2, rng, SMALL, device=f"cuda:{torch.cuda.device_count()}")


def test_numpy_agent_takes_every_name_of_the_cpu():
    rng = np.random.default_rng
    reference = np_dqn.DQNAgent(4, 2, rng(0), SMALL).state_dict()
    for device in ("cpu", "cpu:0", torch.device("cpu"), torch.device("cpu", 0)):
        agent = np_dqn.DQNAgent(4, 2, rng(0), SMALL, device=device)
        for name, value in agent.state_dict().items():
            np.testing.assert_array_equal(value, reference[name])
    for device in ("cuda", torch.device("cuda"), "cpu:1", "mps"):
        with pytest.raises(ValueError, match=r"^device '[a-z]+(:1)?' is not available to the NumPy tree"):
            np_dqn.DQNAgent(4, 2, rng(0), SMALL, device=device)
    for device in ("CPU", "cpu:01", "gpu"):  # names torch.device refuses too
        with pytest.raises(ValueError, match=r"^device must name a device such as 'cpu', 'cuda' or 'mps', got '"):
            np_dqn.DQNAgent(4, 2, rng(0), SMALL, device=device)


@pytest.mark.parametrize("tree", [np_dqn, torch_dqn])
def test_a_list_of_hidden_widths_builds_the_same_network(tree):
    rng = np.random.default_rng
    as_list = tree.DQNAgent(4, 2, rng(0), replace(SMALL, hidden=[16, 16]), "cpu")
    as_tuple = tree.DQNAgent(4, 2, rng(0), SMALL, "cpu")
    assert as_list.config.hidden == (16, 16)
    for (name, value), other in zip(as_list.state_dict().items(), as_tuple.state_dict().values(), strict=True):
        np.testing.assert_array_equal(np.asarray(value), np.asarray(other), err_msg=name)


def test_both_trees_take_arrays_with_negative_strides():
    """Reversed views are valid arrays; torch.as_tensor refuses their strides unless they are copied."""
    np_agent, torch_agent = twin_agents()
    batch = random_batch(0)
    reversed_batch = rl.Batch(*(x[::-1] for x in batch))
    flipped = rl.Batch(*(np.ascontiguousarray(x[::-1]) for x in batch))
    for agent, twin in ((np_agent, twin_agents()[0]), (torch_agent, twin_agents()[1])):
        assert agent.update(reversed_batch) == twin.update(flipped)
        obs = np.random.default_rng(1).normal(size=4).astype(np.float32)
        np.testing.assert_allclose(agent.q_values(obs[::-1]), twin.q_values(obs[::-1].copy()), rtol=1e-6)
    state = {k: np.asarray(v)[::-1] for k, v in torch_agent.state_dict().items()}
    torch_agent.load_state_dict(state)
    for name, value in torch_agent.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state[name])
    actions = np.array([1, 0, 1])[::-1]
    loss, _ = torch_dqn.q_loss_forward(torch.zeros(3, 2), actions, torch.ones(3))
    assert loss.item() == 0.5
