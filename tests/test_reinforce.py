"""REINFORCE with a baseline in both trees: the reward-to-go, the loss and its backward, NumPy against
PyTorch update for update, honest step counting, clear refusals, and an agent that learns CartPole."""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from dlcourse import policy_gradient as pg
from dlcourse import rl
from dlcourse.numpy import reinforce as np_pg
from dlcourse.torch import reinforce as torch_pg

from .helpers import assert_backward, assert_twins

SMALL = replace(pg.ReinforceConfig(), hidden=(8, 8), value_hidden=(8,), episodes_per_update=2)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread is fastest, and on a busy machine more threads only fight each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


def twin_agents(config: pg.ReinforceConfig = SMALL, seed: int = 0):
    """A NumPy agent and a PyTorch agent; the torch one gets a copy of the NumPy one's weights."""
    np_agent = np_pg.ReinforceAgent(4, 2, np.random.default_rng(seed), config)
    torch_agent = torch_pg.ReinforceAgent(4, 2, np.random.default_rng(seed + 1), config)  # other weights at first
    torch_agent.load_state_dict({k: torch.from_numpy(v) for k, v in np_agent.state_dict().items()})
    return np_agent, torch_agent


def random_episodes(seed: int, lengths=(5, 3, 7), obs_dim: int = 4, n_actions: int = 2) -> list[pg.Trajectory]:
    rng = np.random.default_rng(seed)
    return [
        pg.Trajectory(
            rng.normal(size=(t, obs_dim)).astype(np.float32), rng.integers(0, n_actions, size=t), rng.normal(size=t)
        )
        for t in lengths
    ]


# ----------------------------------------------------------------------------- reward-to-go


@given(
    rewards=st.lists(st.floats(-10, 10), min_size=0, max_size=12),
    gamma=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1)),
)
def test_reward_to_go_matches_its_definition(rewards, gamma):
    got = pg.reward_to_go(rewards, gamma)
    t_max = len(rewards)
    expected = [sum(gamma ** (k - t) * rewards[k] for k in range(t, t_max)) for t in range(t_max)]
    assert got.shape == (t_max,) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    if rewards:
        assert got[0] == pytest.approx(rl.discounted_return(rewards, gamma), rel=1e-12, abs=1e-12)


def test_reward_to_go_by_hand_and_the_batch_never_crosses_an_episode_end():
    np.testing.assert_allclose(pg.reward_to_go([1.0, 0.0, 2.0], 0.5), [1.5, 1.0, 2.0])
    episodes = [pg.Trajectory(np.zeros((2, 4)), np.array([0, 1]), np.array([1.0, 1.0])),
                pg.Trajectory(np.ones((1, 4)), np.array([1]), np.array([5.0]))]  # fmt: skip
    obs, actions, returns = pg.episode_batch(episodes, 0.9)
    assert obs.shape == (3, 4) and obs.dtype == np.float32 and actions.tolist() == [0, 1, 1]
    np.testing.assert_allclose(returns, [1.9, 1.0, 5.0])  # the 5 of the second episode does not leak back


def test_advantages_subtract_the_baseline_and_normalise():
    returns, values = np.array([3.0, 1.0, 2.0, 6.0]), np.array([1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(pg.advantages(returns, values, False), [2.0, 0.0, 1.0, 5.0])
    adv = pg.advantages(returns, values, True)
    assert adv.mean() == pytest.approx(0.0, abs=1e-12) and adv.std() == pytest.approx(1.0, rel=1e-6)
    assert np.all(pg.advantages(np.ones(3), np.zeros(3), True) == 0)  # all equal: no division by zero


# ----------------------------------------------------------------------------- the loss and its backward


@given(n=st.integers(1, 8), a=st.integers(1, 4), scale=st.sampled_from([0.1, 1.0, 20.0]), seed=st.integers(0, 999))
def test_policy_loss_backward_matches_finite_differences(n, a, scale, seed):
    rng = np.random.default_rng(seed)
    logits, actions, adv = rng.normal(size=(n, a)) * scale, rng.integers(0, a, size=n), rng.normal(size=n)
    _, cache = np_pg.policy_loss_forward(logits, actions, adv)
    analytic = np_pg.policy_loss_backward(1.0, cache)
    assert_backward(lambda z: np_pg.policy_loss_forward(z, actions, adv), lambda _: analytic, logits, upstream=1.0)
    np.testing.assert_allclose(analytic.sum(axis=1), 0.0, atol=1e-12)  # softmax is shift-invariant


def test_torch_policy_loss_matches_numpy_autograd_and_its_hand_backward():
    rng = np.random.default_rng(3)
    logits, actions, adv = rng.normal(size=(9, 3)) * 2, rng.integers(0, 3, size=9), rng.normal(size=9)
    assert_twins(
        lambda z: np_pg.policy_loss_forward(z, actions, adv),
        lambda z: torch_pg.policy_loss_forward(z, torch.as_tensor(actions), torch.as_tensor(adv)),
        logits,
        numpy_backward=lambda d: np_pg.policy_loss_backward(d, np_pg.policy_loss_forward(logits, actions, adv)[1]),
        upstream=np.array(1.7),
    )
    z = torch.tensor(logits, requires_grad=True)
    loss, cache = torch_pg.policy_loss_forward(z, torch.as_tensor(actions), torch.as_tensor(adv))
    loss.backward()
    np.testing.assert_allclose(torch_pg.policy_loss_backward(1.0, cache).numpy(), z.grad.numpy(), rtol=1e-12)
    logp = torch.log_softmax(z.detach(), 1)[torch.arange(9), torch.as_tensor(actions)]
    assert loss.item() == pytest.approx(-(torch.as_tensor(adv) * logp).mean().item(), rel=1e-12)


def test_a_constant_baseline_adds_nothing_in_expectation():
    """Weigh each action by its probability: the gradient of a constant advantage b vanishes exactly,
    since sum_a pi(a) grad log pi(a) = grad sum_a pi(a) = 0. That is why a baseline leaves REINFORCE unbiased."""
    logits = np.array([[0.3, -1.2, 2.0]] * 3)  # one state, every action once
    probs = np_pg.policy_loss_forward(logits, np.arange(3), np.zeros(3))[1][0][0]
    b = 4.2
    _, cache = np_pg.policy_loss_forward(logits, np.arange(3), 3 * b * probs)  # weight pi(a), N = 3
    per_row = np_pg.policy_loss_backward(1.0, cache)  # (3, 3): one sampled action each, far from 0
    assert np.abs(per_row).max() > 0.1
    np.testing.assert_allclose(per_row.sum(axis=0), 0.0, atol=1e-12)  # the rows share one state's logits


# ----------------------------------------------------------------------------- NumPy against PyTorch


def test_one_update_is_identical_in_both_trees():
    config = replace(SMALL, max_grad_norm=0.5)
    np_agent, torch_agent = twin_agents(config)
    before = np_agent.state_dict()
    for step in range(2):  # two updates: Adam's moments must agree too
        episodes = random_episodes(step)
        np_metrics, torch_metrics = np_agent.update(episodes), torch_agent.update(episodes)
        for key in ("policy_loss", "value_loss", "entropy"):
            assert np_metrics[key] == pytest.approx(torch_metrics[key], rel=1e-5, abs=1e-7), key
        after = {k: v.numpy() for k, v in torch_agent.state_dict().items()}
        for name, value in np_agent.state_dict().items():
            np.testing.assert_allclose(after[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    for net in ("policy", "value"):  # both networks moved
        assert not np.allclose(np_agent.state_dict()[f"{net}.0.weight"], before[f"{net}.0.weight"])


def test_equal_weights_and_generators_act_alike():
    np_agent = np_pg.ReinforceAgent(4, 2, np.random.default_rng(5), SMALL)
    torch_agent = torch_pg.ReinforceAgent(4, 2, np.random.default_rng(5), SMALL)  # the same draws
    obs = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    np.testing.assert_allclose(np_agent.probs(obs), torch_agent.probs(obs), rtol=1e-5, atol=1e-7)
    state = np.array([0.1, -0.4, 0.2, 0.9], dtype=np.float32)
    assert [np_agent.act(state) for _ in range(100)] == [torch_agent.act(state) for _ in range(100)]
    assert [np_agent.greedy(o) for o in obs] == [int(np.argmax(p)) for p in torch_agent.probs(obs)]


def test_act_samples_with_the_policys_probabilities():
    agent = np_pg.ReinforceAgent(4, 3, np.random.default_rng(0), SMALL)
    state = np.array([0.5, -1.0, 1.5, 0.2], dtype=np.float32)
    n = 20_000
    counts = np.bincount([agent.act(state) for _ in range(n)], minlength=3)
    probs = agent.probs(state)
    assert np.all(np.abs(counts / n - probs) < 4 * np.sqrt(probs * (1 - probs) / n) + 1e-3), (counts / n, probs)


def test_state_dict_round_trip():
    a = np_pg.ReinforceAgent(4, 2, np.random.default_rng(0), SMALL)
    b = np_pg.ReinforceAgent(4, 2, np.random.default_rng(1), SMALL)
    b.load_state_dict(a.state_dict())
    obs = np.ones((3, 4), dtype=np.float32)
    np.testing.assert_array_equal(a.probs(obs), b.probs(obs))
    assert sorted(a.state_dict()) == sorted(torch_pg.ReinforceAgent(4, 2, np.random.default_rng(0), SMALL).state_dict())


# ----------------------------------------------------------------------------- counting every step


class Counting(gym.Wrapper):
    """Counts every call of ``step`` and the length of every episode."""

    def __init__(self, env):
        super().__init__(env)
        self.steps, self.lengths = 0, []

    def reset(self, **kwargs):
        self.lengths.append(0)
        return self.env.reset(**kwargs)

    def step(self, action):
        self.steps += 1
        self.lengths[-1] += 1
        return self.env.step(action)


@pytest.mark.parametrize("tree", [np_pg, torch_pg])
@pytest.mark.parametrize("budget", [1_000, 1_777])
def test_every_step_counts_evaluation_included_and_the_cap_holds(tree, budget):
    env, eval_env = Counting(gym.make("CartPole-v1")), Counting(gym.make("CartPole-v1"))
    agent = tree.ReinforceAgent(4, 2, np.random.default_rng(0), SMALL)
    history = pg.train_reinforce(agent, env, budget, eval_env=eval_env, eval_every=150, eval_episodes=3, progress=False)
    assert history.env_steps == env.steps + eval_env.steps == sum(env.lengths) + sum(eval_env.lengths) == budget
    assert history.train_steps == env.steps and history.eval_env_steps == eval_env.steps > 0
    assert len(history.episode_returns) == len(env.lengths) and history.episode_steps[-1] == budget
    assert np.all(np.diff(history.episode_steps) > 0) and np.all(np.diff(history.eval_steps) > 0)
    assert len(history.policy_losses) == len(history.value_losses) >= 1
    assert history.best_state is not None and history.best_return == max(history.eval_returns)
    assert history.best_env_steps == history.eval_steps[int(np.argmax(history.eval_returns))]
    # the environments' own records agree: a training episode's return is its length on CartPole
    assert history.episode_returns[:-1] == [float(n) for n in env.lengths[:-1]]


def test_without_evaluation_only_training_steps_count_and_stop_at_stops():
    env = Counting(gym.make("CartPole-v1"))
    history = pg.train_reinforce(np_pg.ReinforceAgent(4, 2, np.random.default_rng(0), SMALL), env, 500, progress=False)
    assert history.env_steps == history.train_steps == env.steps == 500 and history.eval_env_steps == 0
    eval_env = Counting(gym.make("CartPole-v1"))
    agent = np_pg.ReinforceAgent(4, 2, np.random.default_rng(0), SMALL)
    history = pg.train_reinforce(
        agent, gym.make("CartPole-v1"), 10_000, eval_env=eval_env, eval_every=50, eval_episodes=2, stop_at=1.0,
        progress=False,
    )  # fmt: skip
    assert len(history.eval_returns) == 1 and history.env_steps < 10_000 and eval_env.steps == history.eval_env_steps


# ----------------------------------------------------------------------------- learning


def test_numpy_agent_learns_cartpole_within_a_counted_budget():
    """From about 20 steps (a random policy) to clearly above 100 in 25,000 counted steps (a few seconds)."""
    agent = np_pg.ReinforceAgent(4, 2, np.random.default_rng(0))
    env, eval_env = gym.make("CartPole-v1"), gym.make("CartPole-v1")
    history = pg.train_reinforce(agent, env, 25_000, eval_env=eval_env, eval_every=5_000, eval_episodes=5, seed=0,
                                 progress=False)  # fmt: skip
    first, last = np.mean(history.episode_returns[:16]), np.mean(history.episode_returns[-16:])
    assert first < 40 and last > 100, (first, last)
    agent.load_state_dict(history.best_state)
    assert rl.evaluate(eval_env, agent.greedy, 10, seed=123_456).mean() > 150


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("tree", [np_pg, torch_pg])
def test_both_trees_refuse_bad_input_with_the_same_sentence(tree):
    agent = tree.ReinforceAgent(4, 2, np.random.default_rng(0), SMALL)
    good = random_episodes(0)
    bad_cases = [
        ([], TypeError, "episodes must be a non-empty list of Trajectory records"),
        (good[0], TypeError, "episodes must be a non-empty list of Trajectory records"),
        ([good[0], "x"], TypeError, r"episodes\[1\] must be a Trajectory \(obs, actions, rewards\)"),
        ([good[0]._replace(obs=np.zeros((5, 3)))], ValueError, r"episodes\[0\].obs must have shape \(any, 4\)"),
        ([good[0]._replace(actions=np.array([0, 1, 2, 0, 1]))], ValueError, r"episodes\[0\].actions must hold integers in \[0, 2\)"),
        ([good[0]._replace(rewards=np.array([1.0, np.nan, 0, 0, 0]))], ValueError, r"episodes\[0\].rewards must hold finite"),
        ([good[0]._replace(rewards=np.zeros(4))], ValueError, r"episodes\[0\].rewards must have shape \(5,\)"),
        ([pg.Trajectory(np.zeros((0, 4)), np.zeros(0, int), np.zeros(0))], ValueError, r"episodes\[0\].obs"),
    ]  # fmt: skip
    for episodes, kind, message in bad_cases:
        with pytest.raises(kind, match=message):
            agent.update(episodes)
    with pytest.raises(ValueError, match=r"obs must have shape \(4,\), got \(3,\)"):
        agent.act(np.zeros(3))
    with pytest.raises(ValueError, match="config.lr must be a positive number"):
        tree.ReinforceAgent(4, 2, np.random.default_rng(0), replace(SMALL, lr=-1.0))
    with pytest.raises(TypeError, match="config must be a ReinforceConfig"):
        tree.ReinforceAgent(4, 2, np.random.default_rng(0), rl.DQNConfig())
    with pytest.raises(TypeError, match="config.normalize_advantages must be True or False"):
        tree.ReinforceAgent(4, 2, np.random.default_rng(0), replace(SMALL, normalize_advantages="yes"))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        tree.ReinforceAgent(4, 2, 0, SMALL)
    with pytest.raises(ValueError, match="state must hold the network's weights, as state_dict"):
        agent.load_state_dict({k: v for k, v in agent.state_dict().items() if k != "value.0.bias"})
    to = np.asarray if tree is np_pg else torch.as_tensor
    with pytest.raises(ValueError, match=r"advantages must have shape \(3,\), got \(2,\)"):
        tree.policy_loss_forward(to(np.zeros((3, 2))), to(np.array([0, 1, 1])), to(np.zeros(2)))
    with pytest.raises(ValueError, match=r"actions must hold integers in \[0, 2\)"):
        tree.policy_loss_forward(to(np.zeros((3, 2))), to(np.array([0, 2, 1])), to(np.zeros(3)))
    with pytest.raises(ValueError, match="advantages contains NaN"):
        tree.policy_loss_forward(to(np.zeros((1, 2))), to(np.array([0])), to(np.array([np.nan])))


def test_shared_functions_refuse_bad_input_with_one_sentence():
    with pytest.raises(ValueError, match=r"rewards must have shape \(any,\), got \(2, 2\)"):
        pg.reward_to_go(np.zeros((2, 2)), 0.9)
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\], got 1.5"):
        pg.reward_to_go([1.0], 1.5)
    with pytest.raises(ValueError, match="rewards contains NaN"):
        pg.reward_to_go([1.0, float("nan")], 0.9)
    agent, env = np_pg.ReinforceAgent(4, 2, np.random.default_rng(0), SMALL), gym.make("CartPole-v1")
    with pytest.raises(ValueError, match="eval_every=10 asks for evaluations, which need an eval_env"):
        pg.train_reinforce(agent, env, 100, eval_every=10, progress=False)
    with pytest.raises(ValueError, match="max_env_steps must be a positive integer, got 0"):
        pg.train_reinforce(agent, env, 0, progress=False)
    with pytest.raises(TypeError, match="agent must be a ReinforceAgent"):
        pg.train_reinforce("agent", env, 10, progress=False)
    with pytest.raises(TypeError, match="agent must have a ReinforceConfig as its config"):
        from dlcourse.numpy.dqn import DQNAgent

        pg.train_reinforce(DQNAgent(4, 2, np.random.default_rng(0)), env, 10, progress=False)
    with pytest.raises(ValueError, match="env must have 3 actions, as the agent has"):
        pg.train_reinforce(np_pg.ReinforceAgent(4, 3, np.random.default_rng(0), SMALL), env, 10, progress=False)
    with pytest.raises(TypeError, match="policy must be a function from observation to action"):
        pg.collect_episode(env, "left")
    with pytest.raises(ValueError, match=r"the policy's action must be in \[0, 2\), got 2"):
        pg.collect_episode(env, lambda obs: 2)
    with pytest.raises(ValueError, match="obs gives NaN action probabilities"):
        pg.sample_action(np.array([np.nan, 0.5]), np.random.default_rng(0))


def test_reward_to_go_and_advantages_refuse_bad_input_with_one_sentence():
    cases = [
        (lambda: pg.reward_to_go([1.0, np.inf], 0.9), ValueError, r"^rewards must hold finite numbers, got infinity at 1"),
        (lambda: pg.reward_to_go([1.0], np.nan), ValueError, r"^gamma must be in \[0, 1\], got nan\.$"),
        (lambda: pg.advantages([1.0, 2.0], [1.0], True), ValueError, r"^values must have shape \(2,\), got \(1,\)\.$"),
        (lambda: pg.advantages([[1.0, 2.0]], [1.0, 2.0], True), ValueError, r"^returns must have shape \(any,\)"),
        (lambda: pg.advantages([1.0, np.nan], [1.0, 2.0], True), ValueError, r"^returns contains NaN at 1 position"),
        (lambda: pg.advantages([1.0, 2.0], [0.0, -np.inf], False), ValueError, r"^values must hold finite numbers"),
        (lambda: pg.advantages("ab", [1.0], False), TypeError, r"^returns must be a numeric array, got 'ab'\.$"),
        (lambda: pg.advantages([1.0], [0.0], "yes"), TypeError, r"^normalize must be True or False, got 'yes'\.$"),
        (lambda: pg.advantages([], [], True), ValueError, r"^returns is empty; normalising the advantages needs"),
    ]  # fmt: skip
    for make, kind, pattern in cases:
        with pytest.raises(kind, match=pattern) as caught:
            make()
        assert str(caught.value).endswith(".") and "\n" not in str(caught.value)
    assert pg.advantages([], [], False).shape == (0,)  # nothing to normalise: an empty batch stays empty
    np.testing.assert_array_equal(pg.advantages([3.0, 1.0], np.float32([1.0, 1.0]), False), [2.0, 0.0])


class NanReward(gym.Wrapper):
    """CartPole whose every reward is NaN, as a broken environment or reward wrapper would give."""

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, float("nan"), terminated, truncated, info


def test_train_reinforce_refuses_nan_stop_at_and_nan_rewards():
    agent, env = np_pg.ReinforceAgent(4, 2, np.random.default_rng(0), SMALL), gym.make("CartPole-v1")
    with pytest.raises(ValueError, match=r"^stop_at must be a finite number, got nan\.$"):
        pg.train_reinforce(agent, env, 100, stop_at=float("nan"), progress=False)
    with pytest.raises(ValueError, match=r"^the environment's reward must be a finite number, got nan\.$"):
        pg.train_reinforce(agent, NanReward(gym.make("CartPole-v1")), 100, progress=False)
    with pytest.raises(ValueError, match=r"^the environment's reward must be a finite number, got nan\.$"):
        pg.train_reinforce(
            agent, env, 2_000, eval_env=NanReward(gym.make("CartPole-v1")), eval_every=20, progress=False
        )


def test_an_evaluation_that_ends_exactly_on_the_budget_counts():
    """Rerun with the budget set to the step where the first evaluation ended: the same run up to
    there (every draw is seeded), and that whole evaluation must be recorded, not thrown away."""

    def run(budget):
        agent = np_pg.ReinforceAgent(4, 2, np.random.default_rng(0), SMALL)
        env, eval_env = gym.make("CartPole-v1"), gym.make("CartPole-v1")
        return pg.train_reinforce(agent, env, budget, eval_env, eval_every=100, eval_episodes=2, progress=False)

    full = run(5_000)
    end = full.eval_steps[0]  # env_steps when the first evaluation had finished
    exact = run(end)
    assert exact.env_steps == end and exact.eval_steps == [end]
    assert exact.eval_returns == full.eval_returns[:1] and exact.best_state is not None
    assert exact.episode_returns == full.episode_returns[: len(exact.episode_returns)]
    short = run(end - 1)  # one step less: the evaluation is cut short and not recorded
    assert short.env_steps == end - 1 and short.eval_returns == []
