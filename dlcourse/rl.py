r"""Reinforcement learning helpers shared by both trees: tables, exploration, replay, episodes, pictures.

An **agent** acts in an **environment**: it sees a state :math:`s_t`, picks an action
:math:`a_t`, and the environment answers with a reward :math:`r_{t+1}` and the next state.
The agent's goal is a large **return**, the discounted sum of rewards
:math:`G_t = r_{t+1} + \gamma r_{t+2} + \gamma^2 r_{t+3} + \dots`. The **action value**
:math:`Q(s, a)` is the return expected after taking action :math:`a` in state :math:`s` and
acting well afterwards; Q-learning learns it from experience with the update

.. math:: Q(s, a) \leftarrow Q(s, a) + \alpha \bigl(r + \gamma \max_{a'} Q(s', a') - Q(s, a)\bigr).

Nothing here depends on NumPy-versus-PyTorch: tabular Q-learning, epsilon-greedy actions and
their schedule, the replay buffer and DQN's hyperparameters (:mod:`dlcourse.replay`, re-exported
here), the episode runner, and the DQN training loop (which drives either tree's
:class:`DQNAgent`). Pictures live in :mod:`dlcourse.plotting` and :mod:`dlcourse.widgets`,
records in :mod:`dlcourse.results`. Environments come from gymnasium through :func:`make_env`
(``"FrozenLake-v1"``, ``"CartPole-v1"``), which also sets up off-screen rendering.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from dlcourse.replay import Batch, DQNConfig, ReplayBuffer
from dlcourse.results import DQNHistory, Episode, QLearningResult
from dlcourse.rl_checks import (
    check_config,
    check_episode_seeds,
    check_explore,
    check_q_table,
    check_q_update,
    check_train_envs,
    discrete_actions,
)
from dlcourse.validation import (
    LARGEST_COUNT,
    as_count,
    as_finite,
    as_flag,
    as_float_array,
    as_index,
    check_methods,
    check_shape,
    describe,
    in_unit,
)

__all__ = [
    "Batch",
    "DQNConfig",
    "DQNHistory",
    "Episode",
    "QLearningResult",
    "ReplayBuffer",
    "discounted_return",
    "epsilon_greedy",
    "evaluate",
    "linear_schedule",
    "make_env",
    "q_learning",
    "q_learning_update",
    "run_episode",
    "train_dqn",
]


# ----------------------------------------------------------------------------- returns and exploration


def discounted_return(rewards: Sequence[float], gamma: float) -> float:
    r"""The return of an episode seen from its start: :math:`G_0 = \sum_k \gamma^k r_{k+1}`.

    Args:
        rewards: the rewards :math:`r_1, r_2, \dots` in the order they arrived.
        gamma: the discount factor, in [0, 1].
    """
    rewards, gamma = as_float_array(rewards, "rewards"), in_unit(gamma, "gamma")
    check_shape(rewards, "rewards", (None,))
    g = 0.0
    for r in reversed(list(rewards)):  # G_t = r_{t+1} + gamma G_{t+1}, from the end backwards
        g = float(r) + gamma * g
    return g


def epsilon_greedy(q_values: np.ndarray, epsilon: float, rng: np.random.Generator, *, check: bool = True) -> int:
    """Explore or exploit: a uniformly random action with probability ``epsilon``, else the greedy one.

    The greedy action is the one with the highest value. Ties are broken at random: an agent
    that knows nothing yet (all values equal) would otherwise always pick action 0. The
    random action may be the greedy one too, so with a unique best action that action is
    chosen with probability ``1 - epsilon + epsilon / A``.

    Args:
        q_values: (A,) the values of the actions in the current state.
        epsilon: the exploration probability, in [0, 1].
        rng: the generator the coin, the random action and any tie-break are drawn from.
        check: check the arguments (the default); :func:`q_learning` checks its own once and skips it.

    Returns:
        An action index in [0, A).
    """
    if check:
        q_values, epsilon = check_explore(q_values, epsilon, rng)
    if rng.random() < epsilon:
        return int(rng.integers(len(q_values)))
    best = np.flatnonzero(q_values == q_values.max())  # every action that ties for the highest value
    return int(best[0]) if len(best) == 1 else int(rng.choice(best))


def linear_schedule(
    step: int, total_steps: int, start: float, end: float, fraction: float, *, check: bool = True
) -> float:
    """A value that falls linearly from ``start`` to ``end`` over the first ``fraction`` of training, then stays.

    Used for epsilon: explore a lot while the agent knows nothing, little once it has learned.

    Args:
        step: the current step, from 0.
        total_steps: the length of training.
        start: the value at step 0.
        end: the value from step ``fraction * total_steps`` on.
        fraction: the share of training over which the value falls, in (0, 1].
        check: check the arguments (the default); :func:`train_dqn` checks its config once and skips it.
    """
    if check:
        step, total_steps = as_count(step, "step", minimum=0), as_count(total_steps, "total_steps")
        start, end, fraction = as_finite(start, "start"), as_finite(end, "end"), in_unit(fraction, "fraction", True)
    progress = min(step / (fraction * total_steps), 1.0)
    return start + progress * (end - start)


# ----------------------------------------------------------------------------- tabular Q-learning


def q_learning_update(
    q: np.ndarray,
    state: int,
    action: int,
    reward: float,
    next_state: int,
    terminated: bool,
    alpha: float,
    gamma: float,
    *,
    check: bool = True,
) -> float:
    r"""One Q-learning step on a table, in place.

    :math:`Q(s, a) \leftarrow Q(s, a) + \alpha\,\delta` with the TD error
    :math:`\delta = y - Q(s, a)` and the TD target :math:`y = r + \gamma \max_{a'} Q(s', a')`,
    or :math:`y = r` when the episode terminated in :math:`s'` (nothing follows a terminal state).

    Args:
        q: (S, A) the table, updated in place.
        state: s.
        action: a.
        reward: r.
        next_state: s'.
        terminated: whether s' ended the episode (a hole or the goal; not a time limit).
        alpha: the learning rate, in (0, 1].
        gamma: the discount factor, in [0, 1].
        check: check the arguments (the default); :func:`q_learning` checks its own once and skips it.

    Returns:
        The TD error :math:`\delta` before the update.
    """
    if check:
        state, action, reward, next_state, terminated, alpha, gamma = check_q_update(
            q, state, action, reward, next_state, terminated, alpha, gamma
        )
    target = reward if terminated else reward + gamma * float(np.max(q[next_state]))
    delta = target - float(q[state, action])
    q[state, action] += alpha * delta
    return delta


def q_learning(
    env: Any,
    episodes: int,
    alpha: float = 0.5,
    gamma: float = 0.9,
    epsilon: float | Callable[[int], float] = 0.1,
    seed: int = 0,
    q: np.ndarray | None = None,
) -> QLearningResult:
    """Tabular Q-learning with epsilon-greedy exploration on a discrete gymnasium environment.

    Args:
        env: a gymnasium environment with ``Discrete`` observation and action spaces
            (FrozenLake-v1, CliffWalking-v1).
        episodes: how many episodes to learn from.
        alpha: the learning rate of the table update.
        gamma: the discount factor.
        epsilon: the exploration probability, or a function from the episode index to it.
        seed: seeds the first ``env.reset``, the action space and the exploration generator.
        q: (S, A) a table to continue from; zeros by default.

    Returns:
        The table and the return and length of every episode.
    """
    check_methods(env, "env", ("reset", "step"), "a gymnasium environment")
    n_states, n_actions = (getattr(getattr(env, s, None), "n", None) for s in ("observation_space", "action_space"))
    if not (isinstance(n_states, (int, np.integer)) and isinstance(n_actions, (int, np.integer))):
        raise TypeError("env must have discrete states and actions (Discrete spaces), as FrozenLake-v1 has.")
    episodes, seed = as_count(episodes, "episodes"), as_count(seed, "seed", minimum=0)
    alpha, gamma = in_unit(alpha, "alpha", open_low=True), in_unit(gamma, "gamma")
    epsilon = epsilon if callable(epsilon) else in_unit(epsilon, "epsilon")
    q = np.zeros((n_states, n_actions)) if q is None else check_q_table(q, (n_states, n_actions))
    if not np.isfinite(q).all():
        raise ValueError("q must hold finite values: NaN or infinity would make the updates NaN.")
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    result = QLearningResult(q)
    for episode in range(episodes):
        eps = in_unit(epsilon(episode), "epsilon(episode)") if callable(epsilon) else epsilon
        state, _ = env.reset(seed=seed if episode == 0 else None)
        total, length, done = 0.0, 0, False
        while not done:
            action = epsilon_greedy(q[state], eps, rng, check=False)
            next_state, reward, terminated, truncated, _ = env.step(action)
            q_learning_update(q, state, action, float(reward), next_state, terminated, alpha, gamma, check=False)
            state, total, length = next_state, total + float(reward), length + 1
            done = terminated or truncated
        result.returns.append(total)
        result.lengths.append(length)
    return result


# ----------------------------------------------------------------------------- environments and episodes


def make_env(name: str, render: bool = False, **kwargs: Any) -> Any:
    """A gymnasium environment, ``gymnasium.make(name, **kwargs)``; with ``render``, one whose
    ``render()`` returns RGB frames (``render_mode="rgb_array"``), drawn off-screen.

    Off-screen drawing needs pygame told before it starts: ``SDL_VIDEODRIVER=dummy`` (and no
    greeting printed), set here unless already set, never merely by importing this module.

    Args:
        name: a registered id, such as ``"CartPole-v1"`` or ``"FrozenLake-v1"``.
        render: return frames from ``render()``.
        **kwargs: passed on to ``gymnasium.make`` (``is_slippery=False``, ``max_episode_steps=...``).
    """
    import gymnasium

    if not isinstance(name, str):
        raise TypeError(f"name must be the id of a gymnasium environment, such as 'CartPole-v1', got {describe(name)}.")
    if as_flag(render, "render"):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        kwargs["render_mode"] = "rgb_array"
    try:
        return gymnasium.make(name, **kwargs)
    except gymnasium.error.Error:
        raise ValueError(
            f"name must be a registered gymnasium environment, such as 'CartPole-v1', got {describe(name)}."
        ) from None


def run_episode(
    env: Any, policy: Callable[[Any], int], seed: int | None = None, render: bool = False, max_steps: int | None = None
) -> Episode:
    """Play one episode with ``policy`` (a function from observation to action).

    Args:
        env: a gymnasium environment; with ``render=True`` it must render frames, as
            :func:`make_env` makes it with ``render=True``.
        policy: observation -> action.
        seed: passed to ``env.reset``.
        render: keep a rendered frame of every state.
        max_steps: stop early after this many steps (the environment's own time limit applies anyway).
    """
    check_methods(env, "env", ("reset", "step"), "a gymnasium environment")
    if not callable(policy):
        raise TypeError(f"policy must be a function from observation to action, got {type(policy).__name__}.")
    seed = None if seed is None else as_count(seed, "seed", minimum=0)
    max_steps = None if max_steps is None else as_count(max_steps, "max_steps", minimum=0)
    if as_flag(render, "render") and getattr(env, "render_mode", None) != "rgb_array":
        raise ValueError(
            "render=True needs an environment that draws frames: make it with make_env(name, render=True)."
        )
    n_actions = discrete_actions(env, required=False)  # each action the policy returns is checked against it
    obs, _ = env.reset(seed=seed)
    episode = Episode(0.0, 0, states=[obs])
    if render:
        episode.frames.append(env.render())
    done = False
    while not done and (max_steps is None or episode.length < max_steps):
        action = policy(obs)
        if n_actions is not None:  # an int in [0, n): gymnasium's own errors would not say which action was bad
            action = as_index(action, "the policy's action", n_actions)
        obs, reward, terminated, truncated, _ = env.step(action)
        episode.total_reward += as_finite(reward, "the environment's reward")  # NaN would poison a mean return
        episode.length += 1
        episode.states.append(obs)
        if render:
            episode.frames.append(env.render())
        episode.finished = done = terminated or truncated
    return episode


def evaluate(env: Any, policy: Callable[[Any], int], episodes: int, seed: int) -> np.ndarray:
    """The returns of ``episodes`` episodes, episode ``i`` reset with seed ``seed + i``.

    Fixed seeds make every call see the same start states, so two policies are compared on
    equal terms.

    Returns:
        (episodes,) float64 returns.
    """
    seed, episodes = check_episode_seeds(seed, episodes)
    return np.array([run_episode(env, policy, seed=seed + i).total_reward for i in range(episodes)])


# ----------------------------------------------------------------------------- DQN training loop


class Agent(Protocol):
    """What :func:`train_dqn` needs from an agent (both trees' ``DQNAgent`` provide it)."""

    config: DQNConfig
    rng: np.random.Generator

    def act(self, obs: np.ndarray, epsilon: float) -> int: ...
    def greedy(self, obs: np.ndarray) -> int: ...
    def update(self, batch: Batch) -> float: ...
    def sync_target(self) -> None: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


def train_dqn(
    agent: Agent,
    env: Any,
    total_steps: int,
    seed: int = 0,
    eval_env: Any | None = None,
    eval_every: int = 0,
    eval_episodes: int = 10,
    stop_at: float | None = None,
    progress: bool = True,
    buffer: ReplayBuffer | None = None,
    max_env_steps: int | None = None,
    eval_gate: float | None = None,
) -> DQNHistory:
    """Train a DQN agent (either tree's) for ``total_steps`` environment steps.

    Every step: pick an epsilon-greedy action, step the environment, store the transition.
    After ``learning_starts`` steps, every ``train_every`` steps: ``gradient_steps`` updates
    on minibatches from the replay buffer, copying the online network into the target every
    ``target_update_every`` of them. Every ``eval_every`` steps (if > 0), play
    ``eval_episodes`` greedy episodes on ``eval_env`` and remember the best network seen.
    Those evaluation steps are part of the method's cost: ``env_steps`` counts them with the
    training steps, and ``max_env_steps`` caps the two together.

    Args:
        agent: a :class:`dlcourse.numpy.dqn.DQNAgent` or :class:`dlcourse.torch.dqn.DQNAgent`.
        env: the training environment.
        total_steps: environment steps to train for.
        seed: seeds the first reset and the replay buffer's sampling.
        eval_env: a separate environment for greedy evaluation; needed when ``eval_every`` > 0.
        eval_every: environment steps between evaluations; 0 for none.
        eval_episodes: episodes per evaluation (seeds 10_000 + i, the same every time).
        stop_at: stop as soon as an evaluation reaches this mean return.
        max_env_steps: cap training and evaluation steps together (None: only ``total_steps``,
            which also sets the schedules); an evaluation the cap cuts short is not used.
        eval_gate: evaluate only when the last 10 training episodes averaged at least this
            return, so that no steps are spent evaluating a network that cannot be the best.
        progress: show a tqdm bar over environment steps.
        buffer: the replay buffer to fill, to look at afterwards; by default a new one of
            ``config.buffer_size`` (at most ``total_steps``) sampling with ``seed``.

    Returns:
        The :class:`DQNHistory`.
    """
    check_methods(agent, "agent", ("act", "greedy", "update", "sync_target", "state_dict"), "a DQNAgent")
    if not isinstance(getattr(agent, "config", None), DQNConfig):
        raise TypeError("agent must have a DQNConfig as its config, as both trees' DQNAgent have.")
    config = check_config(agent.config, "agent.config")
    check_methods(env, "env", ("reset", "step"), "a gymnasium environment")
    if eval_env is not None:
        check_methods(eval_env, "eval_env", ("reset", "step"), "a gymnasium environment")
    total_steps, seed = as_count(total_steps, "total_steps"), as_count(seed, "seed", minimum=0)
    eval_every = as_count(eval_every, "eval_every", minimum=0)
    eval_episodes = as_count(eval_episodes, "eval_episodes", maximum=LARGEST_COUNT - 9_999)  # seeds 10_000 + i
    stop_at, progress = None if stop_at is None else as_finite(stop_at, "stop_at"), as_flag(progress, "progress")
    cap = LARGEST_COUNT if max_env_steps is None else as_count(max_env_steps, "max_env_steps")
    eval_gate = None if eval_gate is None else as_finite(eval_gate, "eval_gate")
    obs_dim = check_train_envs(agent, env, eval_env, eval_every)  # vector states, the agent's number of actions
    if buffer is None:
        buffer = ReplayBuffer(min(config.buffer_size, total_steps), obs_dim, np.random.default_rng(seed))
    elif not isinstance(buffer, ReplayBuffer) or buffer.obs_dim != obs_dim:
        raise TypeError(f"buffer must be None or a ReplayBuffer for states of length {obs_dim}, as env's.")
    history = DQNHistory()
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    episode_return, gradient_steps, burst = 0.0, 0, []
    bar = tqdm(range(total_steps), desc="env steps", disable=not progress, mininterval=0.5)
    for step in bar:
        epsilon = linear_schedule(
            step, total_steps, config.epsilon_start, config.epsilon_end, config.exploration_fraction, check=False
        )
        action = agent.act(obs, epsilon)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, as_finite(reward, "the environment's reward"), next_obs, terminated, check=False)
        episode_return += float(reward)
        obs = next_obs
        if terminated or truncated:
            history.episode_returns.append(episode_return)
            history.episode_steps.append(step + 1)
            episode_return = 0.0
            obs, _ = env.reset()
        if step + 1 >= config.learning_starts and (step + 1) % config.train_every == 0:
            burst.clear()
            for _ in range(config.gradient_steps):
                burst.append(agent.update(buffer.sample(config.batch_size)))
                gradient_steps += 1
                if gradient_steps % config.target_update_every == 0:
                    agent.sync_target()
            history.losses.append(float(np.mean(burst)))
        history.train_steps = step + 1
        due = eval_env is not None and eval_every and (step + 1) % eval_every == 0
        if due and (eval_gate is None or np.mean(history.episode_returns[-10:] or [-np.inf]) >= eval_gate):
            played, room = [], cap - history.env_steps  # the same seeds every time: comparable evaluations
            while len(played) < eval_episodes and room > 0:  # an episode cut by the budget ends the run
                played.append(run_episode(eval_env, agent.greedy, seed=10_000 + len(played), max_steps=room))
                room -= played[-1].length
            history.eval_env_steps += sum(e.length for e in played)
            if room <= 0:  # the budget ran out during this evaluation: it is incomplete and not used
                break
            mean = float(np.mean([e.total_reward for e in played]))
            history.eval_steps.append(step + 1)
            history.eval_returns.append(mean)
            if mean > history.best_return:
                history.best_return, history.best_step, history.best_state = mean, step + 1, agent.state_dict()
                history.best_env_steps = history.env_steps
            bar.set_postfix(greedy_return=f"{mean:.0f}", refresh=False)
            if stop_at is not None and mean >= stop_at:
                break
        if history.env_steps >= cap:
            break
    bar.close()
    return history
