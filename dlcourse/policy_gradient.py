r"""Policy gradients (REINFORCE with a learned baseline), the parts both trees share.

Instead of learning action values and acting greedily on them (DQN), a **policy gradient**
method learns the policy itself: a network :math:`\pi_\theta(a \mid s)` gives a probability to
every action, and :math:`\theta` climbs the gradient of the expected return

.. math:: J(\theta) = \mathbb{E}_{\tau \sim \pi_\theta}\Bigl[\sum_t \gamma^t r_{t+1}\Bigr].

REINFORCE estimates that gradient from whole episodes played with the policy, with the
**reward-to-go** :math:`G_t = \sum_{k \ge t} \gamma^{k-t} r_{k+1}` of each step and a learned
**baseline** :math:`V_\phi(s_t)` subtracted from it:

.. math:: \nabla_\theta J \approx \frac{1}{N} \sum_{t} \nabla_\theta \log \pi_\theta(a_t \mid s_t)\,
    \bigl(G_t - V_\phi(s_t)\bigr).

The baseline does not change the expectation (the score :math:`\nabla \log \pi` has mean zero
in every state) but makes the estimate far less noisy. :math:`V_\phi` is fitted to the
:math:`G_t` by least squares.

Here: the hyperparameters (:class:`ReinforceConfig`), an episode's record (:class:`Trajectory`),
the reward-to-go, the batch and advantages an update learns from, action sampling, and the
training loop :func:`train_reinforce`, which drives either tree's ``ReinforceAgent``
(:mod:`dlcourse.numpy.reinforce`, :mod:`dlcourse.torch.reinforce`) and counts every environment
step it takes, evaluation episodes included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

import numpy as np
from tqdm.auto import tqdm

from dlcourse.replay import check_float32
from dlcourse.results import ReinforceHistory
from dlcourse.rl import run_episode
from dlcourse.rl_checks import check_actions, check_q_network, check_train_envs
from dlcourse.validation import (
    LARGEST_COUNT,
    as_count,
    as_finite,
    as_flag,
    as_float_array,
    as_index,
    check_methods,
    check_not_empty,
    check_positive,
    check_rng,
    check_shape,
    describe,
    in_unit,
)

__all__ = [
    "ReinforceConfig",
    "ReinforceHistory",
    "Trajectory",
    "advantages",
    "check_episodes",
    "check_probs",
    "check_policy_loss",
    "check_reinforce_config",
    "collect_episode",
    "episode_batch",
    "reward_to_go",
    "sample_action",
    "train_reinforce",
]


@dataclass
class ReinforceConfig:
    """Hyperparameters of REINFORCE with a baseline; the defaults learn CartPole-v1 (see benchmarks/bench_pg.py).

    Attributes:
        hidden: the widths of the policy network's hidden layers (tanh).
        value_hidden: the widths of the value (baseline) network's hidden layers (tanh).
        lr: Adam's learning rate for the policy.
        value_lr: Adam's learning rate for the value network.
        gamma: the discount factor of the reward-to-go.
        episodes_per_update: whole episodes collected for each update.
        normalize_advantages: rescale each batch's advantages to mean 0 and standard deviation 1.
        max_grad_norm: rescale the policy's gradient when its norm exceeds this; None: never.
    """

    hidden: tuple[int, ...] = (32, 32)  # a small tanh MLP is plenty for four numbers in, two actions out
    value_hidden: tuple[int, ...] = (32, 32)  # the baseline's network, separate from the policy's
    lr: float = 1e-2  # Adam, policy
    value_lr: float = 1e-2  # Adam, baseline
    gamma: float = 0.99  # rewards 100 steps away still count about a third
    episodes_per_update: int = 8  # episodes averaged in one gradient estimate
    normalize_advantages: bool = True  # one scale of step however long the episodes have grown
    max_grad_norm: float | None = None  # no clipping


class Trajectory(NamedTuple):
    """One episode as the agent played it, NumPy arrays.

    Attributes:
        obs: (T, D) float32, the state :math:`s_t` in which each action was chosen.
        actions: (T,) int64, the actions :math:`a_t`.
        rewards: (T,) float64, the reward :math:`r_{t+1}` that followed each action.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray


# ----------------------------------------------------------------------------- returns, batches, advantages


def _finite_vector(values: Any, name: str, length: int | None = None) -> np.ndarray:
    """``values`` as a 1-D float array of ``length`` numbers (any length for None), none NaN or infinite."""
    values = as_float_array(values, name, allow_nan=False)
    check_shape(values, name, (length,))
    infinite = int(np.isinf(values).sum())
    if infinite:
        raise ValueError(f"{name} must hold finite numbers, got infinity at {infinite} position(s).")
    return values


def reward_to_go(rewards: Sequence[float], gamma: float) -> np.ndarray:
    r"""The discounted reward-to-go of every step of one episode: :math:`G_t = \sum_{k=t}^{T-1} \gamma^{k-t} r_{k+1}`.

    An action can only influence the rewards that come after it, so REINFORCE weighs
    :math:`\log \pi(a_t \mid s_t)` by :math:`G_t`, not by the whole episode's return.
    :math:`G_0` is :func:`dlcourse.rl.discounted_return`.

    Args:
        rewards: (T,) the rewards :math:`r_1, \dots, r_T` in the order they arrived.
        gamma: the discount factor, in [0, 1].

    Returns:
        (T,) float64, computed from the end backwards: :math:`G_t = r_{t+1} + \gamma G_{t+1}`.
    """
    rewards, gamma = _finite_vector(rewards, "rewards"), in_unit(gamma, "gamma")
    out = np.empty(len(rewards))  # (T,)
    g = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        g = float(rewards[t]) + gamma * g
        out[t] = g
    return out


def episode_batch(episodes: Sequence[Trajectory], gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The steps of several episodes in one batch: states, actions and each step's reward-to-go.

    Args:
        episodes: checked trajectories (:func:`check_episodes`), T_i steps each.
        gamma: the discount factor.

    Returns:
        obs (N, D) float32, actions (N,) int64, returns (N,) float64, with N = sum of the T_i;
        the reward-to-go never reaches across the end of an episode.
    """
    if not isinstance(episodes, (list, tuple)) or not episodes or not all(isinstance(e, Trajectory) for e in episodes):
        raise TypeError(f"episodes must be a non-empty list of Trajectory records, got {describe(episodes)}.")
    obs = np.concatenate([e.obs for e in episodes]).astype(np.float32, copy=False)  # (N, D)
    actions = np.concatenate([e.actions for e in episodes]).astype(np.int64, copy=False)  # (N,)
    returns = np.concatenate([reward_to_go(e.rewards, gamma) for e in episodes])  # (N,)
    return obs, actions, returns


def advantages(returns: np.ndarray, values: np.ndarray, normalize: bool) -> np.ndarray:
    r"""How much better each step went than the baseline expected: :math:`A_t = G_t - V(s_t)`.

    With ``normalize``, the batch's advantages are shifted and scaled to mean 0 and standard
    deviation 1 (:math:`10^{-8}` guards a batch where all are equal), so that the size of a
    policy step does not grow with the length of the episodes.

    Args:
        returns: (N,) reward-to-go.
        values: (N,) the baseline's predictions, constants here (no gradient flows into them).
        normalize: rescale as above.

    Returns:
        (N,) float64.
    """
    returns = _finite_vector(returns, "returns")
    values, normalize = _finite_vector(values, "values", len(returns)), as_flag(normalize, "normalize")
    if normalize and not len(returns):
        raise ValueError("returns is empty; normalising the advantages needs at least one step.")
    adv = returns.astype(np.float64) - values.astype(np.float64)  # (N,)
    if normalize:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return adv


def check_probs(probs: np.ndarray) -> np.ndarray:
    """The action probabilities (A,) a policy gives in a state ``obs``, as float64: NaN (a network that
    overflows on a huge state) would leave nothing to draw or pick from."""
    probs = as_float_array(probs, "probs").astype(np.float64)
    check_shape(probs, "probs", (None,))
    check_not_empty(probs, "probs")
    if np.isnan(probs).any():
        raise ValueError("obs gives NaN action probabilities (the network overflowed on it); no action can be chosen.")
    return probs


def sample_action(probs: np.ndarray, rng: np.random.Generator) -> int:
    """An action drawn from the probabilities ``probs`` (A,) with one uniform number of ``rng``.

    Inverse-CDF sampling: the first action whose cumulative probability exceeds ``u * total``.
    Both trees draw this way, so equal probabilities and equal generators give equal actions.
    """
    cumulative = np.cumsum(check_probs(probs))  # (A,)
    u = check_rng(rng).random() * cumulative[-1]
    return min(int(np.searchsorted(cumulative, u, side="right")), len(cumulative) - 1)


# ----------------------------------------------------------------------------- checks shared by both trees


def check_reinforce_config(config: Any, name: str = "config") -> ReinforceConfig:
    """A :class:`ReinforceConfig` (its defaults for None) whose every field is in range."""
    config = ReinforceConfig() if config is None else config
    if not isinstance(config, ReinforceConfig):
        raise TypeError(f"{name} must be a ReinforceConfig (or None for the defaults), got {type(config).__name__}.")
    check_q_network(1, 1, config.hidden, None, f"{name}.hidden")  # a tuple or list of positive widths
    check_q_network(1, 1, config.value_hidden, None, f"{name}.value_hidden")
    check_positive(config.lr, f"{name}.lr")
    check_positive(config.value_lr, f"{name}.value_lr")
    in_unit(config.gamma, f"{name}.gamma")
    as_count(config.episodes_per_update, f"{name}.episodes_per_update")
    as_flag(config.normalize_advantages, f"{name}.normalize_advantages")
    if config.max_grad_norm is not None:
        check_positive(config.max_grad_norm, f"{name}.max_grad_norm")
    return replace(config, hidden=tuple(config.hidden), value_hidden=tuple(config.value_hidden))


def check_episodes(episodes: Any, obs_dim: int, n_actions: int) -> list[Trajectory]:
    """Episodes for an update: a non-empty list of :class:`Trajectory` (or (obs, actions, rewards)
    triples), each of T >= 1 steps, finite float32-sized states (T, obs_dim) and rewards (T,),
    actions in [0, n_actions)."""
    if not isinstance(episodes, (list, tuple)) or not episodes or isinstance(episodes, Trajectory):
        raise TypeError(
            f"episodes must be a non-empty list of Trajectory records, as collect_episode returns, got {describe(episodes)}."
        )
    obs_dim, n_actions = as_count(obs_dim, "obs_dim"), as_count(n_actions, "n_actions")
    checked = []
    for i, episode in enumerate(episodes):
        if not isinstance(episode, tuple) or len(episode) != 3:
            raise TypeError(f"episodes[{i}] must be a Trajectory (obs, actions, rewards), got {describe(episode)}.")
        obs = as_float_array(episode[0], f"episodes[{i}].obs")
        check_shape(obs, f"episodes[{i}].obs", (None, obs_dim))
        check_not_empty(obs, f"episodes[{i}].obs")
        rewards = as_float_array(episode[2], f"episodes[{i}].rewards")
        check_shape(rewards, f"episodes[{i}].rewards", (len(obs),))
        for label, values in (("obs", obs), ("rewards", rewards)):
            check_float32(values, f"episodes[{i}].{label}")  # the networks compute in float32
        actions = check_actions(episode[1], n_actions, len(obs), f"episodes[{i}].actions")
        checked.append(Trajectory(obs.astype(np.float32, copy=False), actions.astype(np.int64), rewards))
    return checked


def check_policy_loss(
    logits: Any, actions: Any, advantages: Any, to_array: Callable, numpy: bool = True
) -> tuple[Any, Any, Any]:
    """The arguments of ``policy_loss_forward`` in either tree: logits (N, A) with N, A >= 1,
    actions (N,) in [0, A), advantages (N,) without NaN; converted with ``to_array``."""
    logits = to_array(logits, "logits")
    check_shape(logits, "logits", (None, None))
    check_not_empty(logits, "logits")
    n, a = logits.shape
    actions = check_actions(actions, a, n, numpy=numpy)
    advantages = to_array(advantages, "advantages", allow_nan=False)
    check_shape(advantages, "advantages", (n,))
    return logits, actions, advantages


# ----------------------------------------------------------------------------- episodes and the training loop


def collect_episode(
    env: Any, policy: Callable[[Any], int], seed: int | None = None, max_steps: int | None = None
) -> Trajectory:
    """Play one episode with ``policy`` and keep what an update needs: every state, action and reward.

    Args:
        env: a gymnasium environment with vector states (CartPole-v1).
        policy: observation (D,) -> action.
        seed: passed to ``env.reset``.
        max_steps: stop after this many steps even if the episode goes on (a budget running out).

    Returns:
        The :class:`Trajectory`: T steps, T = ``len(actions)``.
    """
    check_methods(env, "env", ("reset", "step"), "a gymnasium environment")
    if not callable(policy):
        raise TypeError(f"policy must be a function from observation to action, got {type(policy).__name__}.")
    seed = None if seed is None else as_count(seed, "seed", minimum=0)
    max_steps = LARGEST_COUNT if max_steps is None else as_count(max_steps, "max_steps", minimum=0)
    n_actions = int(getattr(getattr(env, "action_space", None), "n", 0)) or None
    obs, _ = env.reset(seed=seed)
    states, actions, rewards = [], [], []
    done = False
    while not done and len(actions) < max_steps:
        action = as_index(policy(obs), "the policy's action", n_actions)
        states.append(obs)
        actions.append(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        rewards.append(as_finite(reward, "the environment's reward"))
        done = terminated or truncated
    dim = int(np.size(obs))
    return Trajectory(
        np.asarray(states, dtype=np.float32).reshape(len(actions), dim),  # (T, D)
        np.asarray(actions, dtype=np.int64),  # (T,)
        np.asarray(rewards, dtype=np.float64),  # (T,)
    )


class Agent(Protocol):
    """What :func:`train_reinforce` needs from an agent (both trees' ``ReinforceAgent`` provide it)."""

    config: ReinforceConfig
    n_actions: int

    def act(self, obs: np.ndarray) -> int: ...

    def greedy(self, obs: np.ndarray) -> int: ...

    def update(self, episodes: Sequence[Trajectory]) -> dict[str, float]: ...

    def state_dict(self) -> dict: ...


def train_reinforce(
    agent: Agent,
    env: Any,
    max_env_steps: int,
    eval_env: Any | None = None,
    eval_every: int = 0,
    eval_episodes: int = 10,
    seed: int = 0,
    stop_at: float | None = None,
    progress: bool = True,
) -> ReinforceHistory:
    """Train a REINFORCE agent (either tree's) until ``max_env_steps`` environment steps are spent.

    Repeatedly: play ``episodes_per_update`` whole episodes with the agent's sampled actions,
    then make one update from them. After an update that takes the training steps past a
    multiple of ``eval_every`` (if > 0), play ``eval_episodes`` greedy episodes on ``eval_env``
    (seeds 10_000 + i, the same each time) and keep the best agent seen. Every call of
    ``env.step`` counts, evaluation included, and no episode is allowed past the budget: an
    episode the budget cuts short ends training, a batch it leaves incomplete is not learned
    from, and an evaluation it cuts short is not recorded (its steps are counted all the same).

    Args:
        agent: a :class:`dlcourse.numpy.reinforce.ReinforceAgent` or :class:`dlcourse.torch.reinforce.ReinforceAgent`.
        env: the training environment.
        max_env_steps: the budget of environment steps, training and evaluation together.
        eval_env: a separate environment for greedy evaluation; needed when ``eval_every`` > 0.
        eval_every: training steps between evaluations; 0 for none.
        eval_episodes: episodes per evaluation.
        seed: seeds the first reset of ``env`` and its action space.
        stop_at: stop as soon as an evaluation reaches this mean return.
        progress: show a tqdm bar over the counted environment steps.

    Returns:
        The :class:`ReinforceHistory`.
    """
    check_methods(agent, "agent", ("act", "greedy", "update", "state_dict"), "a ReinforceAgent")
    if not isinstance(getattr(agent, "config", None), ReinforceConfig):
        raise TypeError("agent must have a ReinforceConfig as its config, as both trees' ReinforceAgent have.")
    config = check_reinforce_config(agent.config, "agent.config")
    check_methods(env, "env", ("reset", "step"), "a gymnasium environment")
    if eval_env is not None:
        check_methods(eval_env, "eval_env", ("reset", "step"), "a gymnasium environment")
    budget, seed = as_count(max_env_steps, "max_env_steps"), as_count(seed, "seed", minimum=0)
    eval_every = as_count(eval_every, "eval_every", minimum=0)
    eval_episodes = as_count(eval_episodes, "eval_episodes", maximum=LARGEST_COUNT - 9_999)  # seeds 10_000 + i
    stop_at, progress = None if stop_at is None else as_finite(stop_at, "stop_at"), as_flag(progress, "progress")
    check_train_envs(agent, env, eval_env, eval_every)  # vector states of one length, the agent's actions
    history, next_eval = ReinforceHistory(), eval_every
    env.action_space.seed(seed)
    bar = tqdm(total=budget, desc="env steps", disable=not progress, mininterval=0.5)
    cut = False
    while not cut:
        batch = []
        for _ in range(config.episodes_per_update):
            left = budget - history.env_steps  # >= 1: the loop stops when nothing is left
            first_reset = seed if not history.episode_returns else None
            episode = collect_episode(env, agent.act, seed=first_reset, max_steps=left)
            history.train_steps += len(episode.actions)
            history.episode_returns.append(float(episode.rewards.sum()))
            history.episode_steps.append(history.env_steps)
            bar.update(len(episode.actions))
            cut = history.env_steps >= budget  # the budget may have stopped the episode: no update from it
            if cut:
                break
            batch.append(episode)
        if cut:
            break
        metrics = agent.update(batch)
        history.policy_losses.append(float(metrics["policy_loss"]))
        history.value_losses.append(float(metrics["value_loss"]))
        if eval_env is None or not eval_every or history.train_steps < next_eval:
            continue
        while next_eval <= history.train_steps:
            next_eval += eval_every
        returns = []
        for i in range(eval_episodes):
            left = budget - history.env_steps
            played = run_episode(eval_env, agent.greedy, seed=10_000 + i, max_steps=left)
            history.eval_env_steps += played.length
            bar.update(played.length)
            returns.append(played.total_reward)
            cut = history.env_steps >= budget and not (played.finished and len(returns) == eval_episodes)
            if cut:  # an evaluation that finishes on the budget's very last step is whole, and counts
                break
        if cut:  # an evaluation the budget cut short says nothing comparable
            break
        mean = float(np.mean(returns))
        history.eval_steps.append(history.env_steps)
        history.eval_returns.append(mean)
        if mean > history.best_return:
            history.best_return, history.best_state = mean, agent.state_dict()
            history.best_env_steps = history.env_steps
        bar.set_postfix(greedy_return=f"{mean:.0f}", refresh=False)
        if (stop_at is not None and mean >= stop_at) or history.env_steps >= budget:
            break
    bar.close()
    return history
