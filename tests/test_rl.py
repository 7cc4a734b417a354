"""dlcourse.rl: tabular Q-learning learns, exploration and its schedule, the replay buffer, episodes, pictures."""

from __future__ import annotations

import re
from dataclasses import replace

import gymnasium as gym
import matplotlib
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlcourse import rl
from dlcourse.plotting import plot_frozenlake
from dlcourse.widgets import animate

matplotlib.use("Agg")


def frozen_lake():
    return gym.make("FrozenLake-v1", is_slippery=False)


def greedy_from(q):
    return lambda s: int(np.argmax(q[s]))


# ----------------------------------------------------------------------------- tabular Q-learning


def test_q_learning_solves_deterministic_frozen_lake():
    env = frozen_lake()
    before = rl.run_episode(env, greedy_from(np.zeros((16, 4))), seed=0)
    assert before.total_reward == 0  # an untrained greedy agent walks into the wall until time runs out
    result = rl.q_learning(env, 300, alpha=0.5, gamma=0.9, epsilon=lambda e: rl.linear_schedule(e, 300, 1, 0.05, 0.5))
    after = rl.run_episode(env, greedy_from(result.q), seed=0)
    assert after.total_reward == 1.0 and after.length == 6  # the goal, by a shortest path (6 moves on the 4x4 map)
    assert np.mean(result.returns[-50:]) > np.mean(result.returns[:50])  # it got better while training
    # On a shortest path the value of the start is gamma**5: the reward 1 arrives after 6 steps.
    np.testing.assert_allclose(result.q[0].max(), 0.9**5, rtol=1e-3)


def test_q_learning_values_match_value_iteration():
    """Deterministic FrozenLake: Q-learning's values on the greedy path equal the exact optimal values."""
    env = frozen_lake()
    model = env.unwrapped.P  # state -> action -> [(prob, next_state, reward, terminated)]
    gamma, q_star = 0.9, np.zeros((16, 4))
    for _ in range(100):
        for s in range(16):
            for a in range(4):
                q_star[s, a] = sum(p * (r + gamma * (0 if t else q_star[s2].max())) for p, s2, r, t in model[s][a])
    result = rl.q_learning(env, 400, alpha=0.5, gamma=gamma, epsilon=lambda e: rl.linear_schedule(e, 400, 1, 0.05, 0.5))
    path = rl.run_episode(env, greedy_from(result.q), seed=0).states[:-1]
    np.testing.assert_allclose(result.q[path].max(axis=1), q_star[path].max(axis=1), rtol=1e-3)


def test_q_learning_update_terminal_and_bootstrap():
    q = np.array([[0.0, 1.0], [2.0, 4.0]])
    delta = rl.q_learning_update(q, 0, 0, 1.0, 1, False, alpha=0.5, gamma=0.5)
    assert delta == pytest.approx(1.0 + 0.5 * 4.0) and q[0, 0] == pytest.approx(1.5)
    rl.q_learning_update(q, 0, 1, 1.0, 1, True, alpha=1.0, gamma=0.5)
    assert q[0, 1] == 1.0  # terminal: no bootstrap from Q[1]


def test_discounted_return():
    assert rl.discounted_return([1, 1, 1], 0.5) == pytest.approx(1.75)
    assert rl.discounted_return([], 0.9) == 0.0
    with pytest.raises(ValueError, match="gamma must be in"):
        rl.discounted_return([1], 1.5)


def test_q_learning_bootstraps_through_a_time_limit():
    """A truncated episode is not terminal: its last target still bootstraps from Q(s', .)."""
    env = gym.make("FrozenLake-v1", is_slippery=False, max_episode_steps=1)  # one step from the start, then cut off
    q = np.full((16, 4), 0.5)
    result = rl.q_learning(env, 20, alpha=1.0, gamma=0.9, epsilon=1.0, q=q)
    assert result.lengths == [1] * 20 and result.returns == [0.0] * 20  # no step from state 0 reaches a hole or G
    # Down and right lead to untouched states: 0 + 0.9 * 0.5. Treating the cut-off as terminal would give 0.
    np.testing.assert_allclose(q[0, [1, 2]], 0.45)
    assert np.all(q[0] > 0.4)  # left and up bump into the edge and bootstrap from state 0 itself


# ----------------------------------------------------------------------------- exploration


@given(
    q=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=6).map(np.array),
    seed=st.integers(0, 2**16),
)
def test_epsilon_zero_is_greedy_and_epsilon_one_is_any_action(q, seed):
    rng = np.random.default_rng(seed)
    assert q[rl.epsilon_greedy(q, 0.0, rng)] == q.max()
    assert 0 <= rl.epsilon_greedy(q, 1.0, rng) < len(q)


def test_epsilon_greedy_frequencies_and_random_tie_break():
    rng, n = np.random.default_rng(0), 20_000
    counts = np.bincount([rl.epsilon_greedy(np.array([0.0, 1.0, 0.5]), 0.3, rng) for _ in range(n)], minlength=3)
    np.testing.assert_allclose(counts / n, [0.1, 0.8, 0.1], atol=0.015)
    ties = np.bincount([rl.epsilon_greedy(np.zeros(4), 0.0, rng) for _ in range(n)], minlength=4)
    np.testing.assert_allclose(ties / n, 0.25, atol=0.015)  # knowing nothing, every action is tried
    with pytest.raises(ValueError, match="epsilon must be in"):
        rl.epsilon_greedy(np.zeros(2), -0.1, rng)


def test_linear_schedule():
    values = [rl.linear_schedule(s, 1000, 1.0, 0.04, 0.16) for s in range(1000)]
    assert values[0] == 1.0 and values[160] == pytest.approx(0.04) and values[-1] == pytest.approx(0.04)
    assert np.all(np.diff(values) <= 0)
    assert values[80] == pytest.approx(0.52)
    with pytest.raises(ValueError, match="fraction must be in"):
        rl.linear_schedule(0, 10, 1, 0, 0)
    with pytest.raises(ValueError, match="total_steps must be a positive integer"):
        rl.linear_schedule(0, 0, 1, 0, 0.5)


# ----------------------------------------------------------------------------- replay buffer


def fill(buffer, n, start=0):
    for i in range(start, start + n):
        buffer.add(np.full(2, i), i % 3, float(i), np.full(2, i + 1), i % 5 == 0)


def test_replay_buffer_overwrites_the_oldest_first():
    buffer = rl.ReplayBuffer(5, 2, np.random.default_rng(0))
    fill(buffer, 3)
    assert len(buffer) == 3 and sorted(buffer.rewards[:3]) == [0, 1, 2]
    fill(buffer, 4, start=3)  # 7 transitions into 5 places: 0 and 1 are gone
    assert len(buffer) == 5
    assert sorted(buffer.rewards.tolist()) == [2, 3, 4, 5, 6]
    np.testing.assert_array_equal(np.sort(buffer.states()[:, 0]), [2, 3, 4, 5, 6])


@given(capacity=st.integers(1, 20), added=st.integers(1, 40), batch=st.integers(1, 16), seed=st.integers(0, 99))
def test_replay_buffer_samples_only_stored_transitions(capacity, added, batch, seed):
    buffer = rl.ReplayBuffer(capacity, 2, np.random.default_rng(seed))
    fill(buffer, added)
    sample = buffer.sample(batch)
    assert sample.obs.shape == (batch, 2) and sample.next_obs.shape == (batch, 2)
    assert sample.obs.dtype == np.float32 and sample.actions.dtype == np.int64
    stored = set(range(max(0, added - capacity), added))
    assert set(sample.rewards.astype(int).tolist()) <= stored
    # Every row is one consistent transition, never a mix of two.
    np.testing.assert_array_equal(sample.next_obs[:, 0], sample.obs[:, 0] + 1)
    np.testing.assert_array_equal(sample.actions, sample.rewards.astype(int) % 3)
    np.testing.assert_array_equal(sample.terminated, (sample.rewards.astype(int) % 5 == 0).astype(np.float32))


def test_replay_buffer_is_reproducible_and_uniform():
    batches = []
    for _ in range(2):
        buffer = rl.ReplayBuffer(10, 2, np.random.default_rng(7))
        fill(buffer, 10)
        batches.append(buffer.sample(20_000).rewards)
    np.testing.assert_array_equal(*batches)
    np.testing.assert_allclose(np.bincount(batches[0].astype(int)) / 20_000, 0.1, atol=0.01)


def test_replay_buffer_errors_speak_clearly():
    buffer = rl.ReplayBuffer(4, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="replay buffer is empty"):
        buffer.sample(2)
    with pytest.raises(ValueError, match=r"obs must have shape \(3,\), got \(2,\)"):
        buffer.add(np.zeros(2), 0, 0.0, np.zeros(3), False)
    with pytest.raises(ValueError, match="capacity must be a positive integer"):
        rl.ReplayBuffer(0, 3, np.random.default_rng(0))


class PushRight:
    """A stand-in agent for train_dqn: always pushes right and never trains."""

    def __init__(self) -> None:
        self.config = replace(rl.DQNConfig(), learning_starts=10**9)
        self.rng = np.random.default_rng(0)

    def act(self, obs, epsilon):
        return 1

    def greedy(self, obs):
        return 1

    def update(self, batch):
        raise AssertionError("no update expected before learning_starts")

    def sync_target(self):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_train_dqn_stores_time_outs_as_not_terminal():
    """CartPole's time limit truncates episodes; the buffer must flag only real falls as terminal."""
    buffer = rl.ReplayBuffer(60, 4, np.random.default_rng(0))
    cut = gym.make("CartPole-v1", max_episode_steps=5)  # pushing right for 5 steps never drops the pole
    history = rl.train_dqn(PushRight(), cut, 60, buffer=buffer, progress=False)
    assert history.episode_returns == [5.0] * 12
    assert buffer.terminated.sum() == 0
    inside = np.array([i for i in range(59) if (i + 1) % 5])  # transitions followed by one of the same episode
    np.testing.assert_array_equal(buffer.next_obs[inside], buffer.obs[inside + 1])
    # The last transition of an episode keeps the real final state, not the next episode's first one.
    assert not np.any(np.all(buffer.next_obs[4:59:5] == buffer.obs[5:60:5], axis=1))

    buffer = rl.ReplayBuffer(200, 4, np.random.default_rng(0))
    history = rl.train_dqn(PushRight(), gym.make("CartPole-v1"), 200, buffer=buffer, progress=False)
    falls = len(history.episode_returns)
    assert falls >= 5 and buffer.terminated.sum() == falls  # every fall, and only falls, is terminal
    ends = np.cumsum(history.episode_returns).astype(int) - 1  # the index of each episode's last transition
    np.testing.assert_array_equal(np.flatnonzero(buffer.terminated), ends)


def test_train_dqn_counts_evaluation_steps_and_caps_them_with_training():
    """env_steps is every environment step the method took; max_env_steps caps training and
    evaluation together, and an evaluation the cap cuts short is not used."""
    right = lambda obs: 1  # noqa: E731  PushRight's greedy policy
    one = sum(rl.run_episode(gym.make("CartPole-v1"), right, seed=10_000 + i).length for i in range(3))
    assert one > 10  # three short episodes
    run = lambda **kw: rl.train_dqn(  # noqa: E731
        PushRight(),
        gym.make("CartPole-v1"),
        60,
        eval_env=gym.make("CartPole-v1"),
        eval_every=20,
        eval_episodes=3,
        progress=False,
        **kw,
    )
    history = run()
    assert (history.train_steps, history.eval_env_steps, history.env_steps) == (60, 3 * one, 60 + 3 * one)
    assert history.eval_steps == [20, 40, 60] and history.best_env_steps == 20 + one
    capped = run(max_env_steps=40 + one + 5)  # the second evaluation gets 5 steps, not enough
    assert (capped.train_steps, capped.eval_env_steps, capped.env_steps) == (40, one + 5, 40 + one + 5)
    assert capped.eval_steps == [20] and len(capped.eval_returns) == 1
    assert run(max_env_steps=7).env_steps == 7  # the cap stops training too
    # the gate: no evaluation (and no step spent on one) while training episodes return less
    gated = run(eval_gate=100.0)
    assert (gated.eval_steps, gated.eval_env_steps, gated.env_steps) == ([], 0, 60)
    assert run(eval_gate=5.0).eval_steps == [20, 40, 60]  # pushing right lasts about 9 steps
    with pytest.raises(TypeError, match=r"^eval_gate must be a real number"):
        run(eval_gate="high")


class NanReward(gym.Wrapper):
    """CartPole whose every reward is NaN, as a broken environment or reward wrapper would give."""

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, float("nan"), terminated, truncated, info


def test_train_dqn_refuses_nan_thresholds_and_nan_rewards_instead_of_recording_them():
    run = lambda env=None, eval_env=None, **kw: rl.train_dqn(  # noqa: E731
        PushRight(), env or gym.make("CartPole-v1"), 60, eval_env=eval_env or gym.make("CartPole-v1"),
        eval_every=20, eval_episodes=3, progress=False, **kw,
    )  # fmt: skip
    for name in ("eval_gate", "stop_at"):
        with pytest.raises(ValueError, match=rf"^{name} must be a finite number, got nan\.$"):
            run(**{name: float("nan")})
    nan_reward = r"^the environment's reward must be a finite number, got nan\.$"
    with pytest.raises(ValueError, match=nan_reward):  # an evaluation's mean return would be NaN
        run(eval_env=NanReward(gym.make("CartPole-v1")))
    with pytest.raises(ValueError, match=nan_reward):  # the replay buffer would learn from NaN
        run(env=NanReward(gym.make("CartPole-v1")))
    with pytest.raises(ValueError, match=nan_reward):
        rl.run_episode(NanReward(gym.make("CartPole-v1")), lambda obs: 1, seed=0)


def test_run_episode_says_whether_the_environment_finished_it():
    whole = rl.run_episode(gym.make("CartPole-v1"), lambda obs: 1, seed=0)
    assert whole.finished and whole.length < 30  # pushing right drops the pole
    assert not rl.run_episode(gym.make("CartPole-v1"), lambda obs: 1, seed=0, max_steps=3).finished
    exact = rl.run_episode(gym.make("CartPole-v1"), lambda obs: 1, seed=0, max_steps=whole.length)
    assert exact.finished and exact.length == whole.length  # it ended on its last allowed step: whole


# ----------------------------------------------------------------------------- episodes and pictures


def test_run_episode_and_evaluate_are_seeded():
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    episode = rl.run_episode(env, lambda obs: int(rng.integers(2)), seed=3)
    assert episode.length == len(episode.states) - 1 and episode.total_reward == episode.length
    push_right = lambda obs: 1  # noqa: E731
    first, second = rl.evaluate(env, push_right, 5, seed=0), rl.evaluate(env, push_right, 5, seed=0)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (5,) and np.all(first < 30)  # always pushing one way drops the pole fast
    assert rl.run_episode(env, push_right, seed=0, max_steps=4).length == 4


def test_animation_is_small_html():
    env = rl.make_env("CartPole-v1", render=True)
    episode = rl.run_episode(env, lambda obs: int(obs[2] > 0), seed=0, render=True, max_steps=30)
    assert episode.frames[0].shape == (400, 600, 3)
    html = animate(episode.frames, every=2).data
    assert "<script" in html and html.count("data:image/png;base64") >= 1
    assert len(html) < 300_000  # 16 small frames
    with pytest.raises(ValueError, match="frames is empty"):
        animate([])


def test_plot_frozenlake_draws_every_cell():
    import matplotlib.pyplot as plt

    env = frozen_lake()
    q = np.zeros((16, 4))
    q[14, 2] = 1.0  # next to the goal: go right
    fig, ax = plt.subplots()
    image = plot_frozenlake(ax, q, env.unwrapped.desc, title="t")
    assert image.get_array().shape == (4, 4) and ax.get_title() == "t"
    assert len(ax.patches) == 4  # the four holes
    assert sum(t.get_text() == "G" for t in ax.texts) == 1
    plt.close(fig)
    with pytest.raises(ValueError, match="q must have shape"):
        plot_frozenlake(ax, np.zeros((15, 4)), env.unwrapped.desc)


def test_animation_player_needs_no_network():
    frames = [np.zeros((8, 8, 3), dtype=np.uint8), np.full((8, 8, 3), 255, dtype=np.uint8)]
    html = animate(frames, fps=2).data
    assert "http://" not in html and "https://" not in html
    assert 'class="fa ' not in html and "\u25b6" in html  # the play button is a character


def test_animation_html_is_the_same_on_every_run():
    """to_jshtml names each player with a random uuid4; the same frames must give the same HTML."""
    frames = [np.zeros((8, 8, 3), dtype=np.uint8), np.full((8, 8, 3), 255, dtype=np.uint8)]
    first, second = animate(frames, fps=2).data, animate(frames, fps=2).data
    assert first == second and "_anim_img" in first
    other = animate(frames[::-1], fps=2).data
    ids = [re.search(r"_anim_img(\w+)", h).group(1) for h in (first, other)]
    assert ids[0] != ids[1]  # two different animations on one page keep apart


def test_importing_rl_changes_no_environment_variable_and_make_env_renders_off_screen():
    import subprocess
    import sys

    code = (
        "import os; before = dict(os.environ); import dlcourse.rl as rl; assert dict(os.environ) == before\n"
        "env = rl.make_env('CartPole-v1', render=True); env.reset(seed=0)\n"
        "print(env.render().shape, os.environ['SDL_VIDEODRIVER'], rl.make_env('FrozenLake-v1').spec.id)\n"
    )
    env = {
        k: v for k, v in __import__("os").environ.items() if k not in ("SDL_VIDEODRIVER", "PYGAME_HIDE_SUPPORT_PROMPT")
    }
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["(400,", "600,", "3)", "dummy", "FrozenLake-v1"]
    assert "pygame" not in proc.stdout.lower()  # no greeting


def test_make_env_refuses_a_render_that_is_not_a_bool():
    with pytest.raises(TypeError, match=r"^render must be True or False, got 'no'\.$"):
        rl.make_env("CartPole-v1", render="no")


# ----------------------------------------------------------------------------- bad input


def test_q_learning_update_refuses_bad_indices_and_leaves_the_table_alone():
    q = np.zeros((16, 4))
    with pytest.raises(ValueError, match=r"^state must be a non-negative integer, got -1\.$"):
        rl.q_learning_update(q, -1, 0, 1.0, 4, False, 0.5, 0.9)  # never wrapped around to the last row
    with pytest.raises(ValueError, match=r"^next_state must be in \[0, 16\), got 16\.$"):
        rl.q_learning_update(q, 0, 0, 1.0, 16, False, 0.5, 0.9)
    with pytest.raises(TypeError, match="^action must be an integer"):
        rl.q_learning_update(q, 0, 1.0, 1.0, 4, False, 0.5, 0.9)
    with pytest.raises(TypeError, match="^terminated must be True or False"):
        rl.q_learning_update(q, 0, 0, 1.0, 4, "no", 0.5, 0.9)
    with pytest.raises(ValueError, match=r"^alpha must be in \(0, 1\]"):
        rl.q_learning_update(q, 0, 0, 1.0, 4, False, 0.0, 0.9)
    with pytest.raises(TypeError, match="^q must be a NumPy array of floats"):
        rl.q_learning_update(q.tolist(), 0, 0, 1.0, 4, False, 0.5, 0.9)  # a copy would be updated, not q
    assert not q.any()
    q[4, 2] = np.nan
    with pytest.raises(ValueError, match=r"^q must be finite in Q\[0, 0\] and Q\[4\]"):
        rl.q_learning_update(q, 0, 0, 1.0, 4, False, 0.5, 0.9)
    assert rl.q_learning_update(q, 0, 0, 1.0, 4, True, 0.5, 0.9) == 1.0  # terminal: Q[4] is not read


def test_exploration_and_returns_refuse_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="^q_values contains NaN"):
        rl.epsilon_greedy([np.nan, 1.0], 0, rng)
    with pytest.raises(ValueError, match=r"^q_values must have shape \(A,\) with A >= 1"):
        rl.epsilon_greedy([], 0.1, rng)
    with pytest.raises(TypeError, match="^q_values must hold real numbers"):
        rl.epsilon_greedy(np.array([1.0, 2.0]) + 1j, 0.1, rng)
    with pytest.raises(TypeError, match="^rng must be a numpy.random.Generator"):
        rl.epsilon_greedy([0.0, 1.0], 0.1, 0)
    with pytest.raises(TypeError, match="^epsilon must be a real number"):
        rl.epsilon_greedy([0.0, 1.0], "0.1", rng)
    with pytest.raises(TypeError, match="^rewards must hold real numbers"):
        rl.discounted_return(["1", 0], 0.9)
    with pytest.raises(TypeError, match="^step must be an integer"):
        rl.linear_schedule(None, 10, 1.0, 0.1, 0.5)


def test_environments_and_episodes_refuse_bad_input():
    with pytest.raises(ValueError, match="^name must be a registered gymnasium environment"):
        rl.make_env("no-such-env")
    with pytest.raises(TypeError, match="^name must be the id of a gymnasium environment"):
        rl.make_env(3)
    with pytest.raises(TypeError, match="^env must have discrete states and actions"):
        rl.q_learning(gym.make("CartPole-v1"), 1)
    with pytest.raises(ValueError, match="^q must hold finite values"):
        rl.q_learning(frozen_lake(), 1, q=np.full((16, 4), np.inf))
    with pytest.raises(TypeError, match="^env must be a gymnasium environment"):
        rl.run_episode("FrozenLake-v1", lambda s: 0)
    with pytest.raises(TypeError, match="^policy must be a function"):
        rl.run_episode(frozen_lake(), 2)
    with pytest.raises(ValueError, match="^render=True needs an environment that draws frames"):
        rl.run_episode(frozen_lake(), lambda s: 0, render=True)
    with pytest.raises(ValueError, match="^seed must be a non-negative integer"):
        rl.evaluate(frozen_lake(), lambda s: 0, 2, seed=-1)


def test_replay_buffer_and_train_dqn_refuse_bad_input():
    buffer = rl.ReplayBuffer(4, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^obs must hold finite numbers, got NaN or infinity at 1 position"):
        buffer.add(np.array([0.0, np.nan, 0.0]), 0, 0.0, np.zeros(3), False)
    with pytest.raises(ValueError, match="^action must be a non-negative integer"):
        buffer.add(np.zeros(3), -1, 0.0, np.zeros(3), False)
    with pytest.raises(TypeError, match="^terminated must be True or False"):
        buffer.add(np.zeros(3), 0, 0.0, np.zeros(3), np.array([True, False]))
    assert len(buffer) == 0
    buffer.add(np.zeros(3), np.int64(1), np.float32(0.5), np.ones(3), np.bool_(True))
    with pytest.raises(TypeError, match="^batch_size must be an integer"):
        buffer.sample(2.0)
    with pytest.raises(TypeError, match="^rng must be a numpy.random.Generator"):
        rl.ReplayBuffer(4, 3, "abc")
    with pytest.raises(TypeError, match="^buffer must be None or a ReplayBuffer for states of length 4"):
        rl.train_dqn(PushRight(), gym.make("CartPole-v1"), 10, buffer=buffer, progress=False)
    with pytest.raises(TypeError, match="^agent must be a DQNAgent"):
        rl.train_dqn("agent", gym.make("CartPole-v1"), 10, progress=False)
    with pytest.raises(TypeError, match="^total_steps must be an integer"):
        rl.train_dqn(PushRight(), gym.make("CartPole-v1"), 10.5, progress=False)


def test_train_dqn_needs_the_agents_discrete_actions_and_an_eval_env_to_evaluate():
    from dlcourse.numpy.dqn import DQNAgent

    config = replace(rl.DQNConfig(), hidden=(8,), learning_starts=10**6)
    three = DQNAgent(4, 3, np.random.default_rng(0), config)
    with pytest.raises(ValueError, match=r"^env must have 3 actions, as the agent has \(n_actions\), got 2\.$"):
        rl.train_dqn(three, rl.make_env("CartPole-v1"), 16, progress=False)
    two = DQNAgent(4, 2, np.random.default_rng(0), config)
    with pytest.raises(ValueError, match=r"^eval_env must have 2 actions, as the agent has \(n_actions\), got 3\.$"):
        rl.train_dqn(two, gym.make("CartPole-v1"), 16, eval_env=SpacesOf(4, 3), eval_every=8, progress=False)
    with pytest.raises(ValueError, match=r"^eval_env must have states of shape \(4,\), as env has, got \(3,\)\.$"):
        rl.train_dqn(two, gym.make("CartPole-v1"), 16, eval_env=SpacesOf(3, 2), eval_every=8, progress=False)
    pendulum = DQNAgent(3, 2, np.random.default_rng(0), config)  # continuous actions: no Q-value per action
    with pytest.raises(TypeError, match=r"^env must have discrete actions 0, 1, \.\.\., \(a Discrete action space\)"):
        rl.train_dqn(pendulum, rl.make_env("Pendulum-v1"), 16, progress=False)
    with pytest.raises(ValueError, match="^eval_every=4 asks for evaluations, which need an eval_env"):
        rl.train_dqn(two, gym.make("CartPole-v1"), 16, eval_every=4, progress=False)
    assert rl.train_dqn(two, gym.make("CartPole-v1"), 16, progress=False).env_steps == 16


class SpacesOf(gym.Env):
    """An environment that only has spaces: (D,) states and A actions (train_dqn checks them first)."""

    def __init__(self, obs_dim: int, n_actions: int) -> None:
        self.observation_space = gym.spaces.Box(-1, 1, (obs_dim,))
        self.action_space = gym.spaces.Discrete(n_actions)

    def step(self, action):
        raise AssertionError("never stepped")

    def reset(self, *, seed=None, options=None):
        raise AssertionError("never reset")


def test_run_episode_checks_every_action_of_the_policy():
    lake = frozen_lake()
    with pytest.raises(ValueError, match=r"^the policy's action must be in \[0, 4\), got 7\.$"):
        rl.run_episode(lake, lambda s: 7)
    with pytest.raises(ValueError, match=r"^the policy's action must be a non-negative integer, got -1\.$"):
        rl.evaluate(lake, lambda s: -1, 2, seed=0)
    with pytest.raises(TypeError, match=r"^the policy's action must be an integer, got 1\.0\.$"):
        rl.run_episode(gym.make("CartPole-v1"), lambda s: 1.0)
    import torch

    right = rl.run_episode(lake, lambda s: 2, seed=0)
    as_tensor = rl.run_episode(lake, lambda s: torch.tensor(2), seed=0)  # a Python int goes to env.step
    as_numpy = rl.run_episode(lake, lambda s: np.int64(2), seed=0)
    assert right.states == as_tensor.states == as_numpy.states and right.length == as_tensor.length


def test_evaluate_names_seed_and_episodes_when_the_last_seed_is_too_large():
    lake = frozen_lake()
    pattern = (
        r"^seed must be at most .* since episode i is reset with seed \+ i, got seed=2147483647 with episodes=2\.$"
    )
    with pytest.raises(ValueError, match=pattern):
        rl.evaluate(lake, lambda s: 0, 2, 2**31 - 1)
    assert rl.evaluate(lake, lambda s: 0, 2, 2**31 - 2).shape == (2,)  # the last seed is 2**31 - 1
    with pytest.raises(ValueError, match=r"^eval_episodes must be an integer <= 2147473648"):
        rl.train_dqn(PushRight(), gym.make("CartPole-v1"), 10, eval_episodes=2**31 - 1, progress=False)


def test_read_only_q_tables_are_refused():
    q = np.zeros((16, 4))
    q.setflags(write=False)
    pattern = r"^q must be a writeable array \(the table is updated in place\), got a read-only one\.$"
    with pytest.raises(ValueError, match=pattern):
        rl.q_learning_update(q, 0, 1, 1.0, 4, False, 0.5, 0.9)
    with pytest.raises(ValueError, match=pattern):
        rl.q_learning(frozen_lake(), 1, q=q)


def test_replay_buffer_refuses_states_and_rewards_beyond_float32():
    buffer = rl.ReplayBuffer(4, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^obs must hold numbers that fit in float32 \(at most 3\.403e\+38 in size\)"):
        buffer.add(np.full(2, 1e308), 0, 1.0, np.zeros(2), False)
    with pytest.raises(ValueError, match=r"^next_obs must hold numbers that fit in float32 .* at 1 position\(s\)\.$"):
        buffer.add(np.zeros(2), 0, 1.0, np.array([0.0, -1e39]), False)
    with pytest.raises(
        ValueError, match=r"^reward must fit in float32 \(at most 3\.403e\+38 in size\), got 1e\+308\.$"
    ):
        buffer.add(np.zeros(2), 0, 1e308, np.zeros(2), False)
    assert len(buffer) == 0
    buffer.add(np.full(2, 3e38), 0, -3e38, np.zeros(2), False)  # large, but float32 holds them
    assert np.isfinite(buffer.obs[0]).all() and buffer.rewards[0] == np.float32(-3e38)


def test_huge_arguments_give_short_messages():
    with pytest.raises(ValueError, match=r"^name must be a registered gymnasium environment, .*, got a str\.$"):
        rl.make_env("x" * 10**5)
    with pytest.raises(TypeError, match=r"^name must be the id of a gymnasium environment, .*, got a list\.$"):
        rl.make_env(["CartPole-v1"] * 10**5)
