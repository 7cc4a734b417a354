r"""Reinforcement learning helpers shared by both trees: tables, exploration, replay, episodes, pictures.

An **agent** acts in an **environment**: it sees a state :math:`s_t`, picks an action
:math:`a_t`, and the environment answers with a reward :math:`r_{t+1}` and the next state.
The agent's goal is a large **return**, the discounted sum of rewards
:math:`G_t = r_{t+1} + \gamma r_{t+2} + \gamma^2 r_{t+3} + \dots`. The **action value**
:math:`Q(s, a)` is the return expected after taking action :math:`a` in state :math:`s` and
acting well afterwards; Q-learning learns it from experience with the update

.. math:: Q(s, a) \leftarrow Q(s, a) + \alpha \bigl(r + \gamma \max_{a'} Q(s', a') - Q(s, a)\bigr).

Nothing here depends on NumPy-versus-PyTorch: tabular Q-learning, epsilon-greedy actions and
their schedule, the replay buffer (NumPy arrays and a seeded generator), the episode runner,
the DQN training loop (which drives either tree's :class:`DQNAgent`), and two pictures: a
FrozenLake value/policy grid and an animation of rendered frames that plays in a static page.

Environments come from gymnasium (``gymnasium.make("FrozenLake-v1")``, ``"CartPole-v1"``).
"""

from __future__ import annotations

import hashlib
import os
import re

# Before pygame is imported anywhere: render off-screen, and keep pygame's greeting out of outputs.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np
from tqdm.auto import tqdm

from dlcourse.validation import check_positive, check_shape

__all__ = [
    "Batch",
    "DQNConfig",
    "DQNHistory",
    "Episode",
    "QLearningResult",
    "ReplayBuffer",
    "animate",
    "discounted_return",
    "epsilon_greedy",
    "evaluate",
    "linear_schedule",
    "plot_frozenlake",
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
    if not 0 <= gamma <= 1:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}.")
    g = 0.0
    for r in reversed(list(rewards)):  # G_t = r_{t+1} + gamma G_{t+1}, from the end backwards
        g = float(r) + gamma * g
    return g


def epsilon_greedy(q_values: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """Explore or exploit: a uniformly random action with probability ``epsilon``, else the greedy one.

    The greedy action is the one with the highest value. Ties are broken at random: an agent
    that knows nothing yet (all values equal) would otherwise always pick action 0. The
    random action may be the greedy one too, so with a unique best action that action is
    chosen with probability ``1 - epsilon + epsilon / A``.

    Args:
        q_values: (A,) the values of the actions in the current state.
        epsilon: the exploration probability, in [0, 1].
        rng: the generator the coin, the random action and any tie-break are drawn from.

    Returns:
        An action index in [0, A).
    """
    if not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}.")
    q_values = np.asarray(q_values)
    check_shape(q_values, "q_values", (None,))
    if rng.random() < epsilon:
        return int(rng.integers(len(q_values)))
    best = np.flatnonzero(q_values == q_values.max())  # every action that ties for the highest value
    return int(best[0]) if len(best) == 1 else int(rng.choice(best))


def linear_schedule(step: int, total_steps: int, start: float, end: float, fraction: float) -> float:
    """A value that falls linearly from ``start`` to ``end`` over the first ``fraction`` of training, then stays.

    Used for epsilon: explore a lot while the agent knows nothing, little once it has learned.

    Args:
        step: the current step, from 0.
        total_steps: the length of training.
        start: the value at step 0.
        end: the value from step ``fraction * total_steps`` on.
        fraction: the share of training over which the value falls, in (0, 1].
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}.")
    if not total_steps > 0:
        raise ValueError(f"total_steps must be positive, got {total_steps!r}.")
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
        gamma: the discount factor.

    Returns:
        The TD error :math:`\delta` before the update.
    """
    target = reward if terminated else reward + gamma * float(np.max(q[next_state]))
    delta = target - float(q[state, action])
    q[state, action] += alpha * delta
    return delta


@dataclass
class QLearningResult:
    """What :func:`q_learning` learned.

    Attributes:
        q: (S, A) the action-value table.
        returns: the undiscounted return of every training episode.
        lengths: the number of steps of every training episode.
    """

    q: np.ndarray
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    @property
    def policy(self) -> np.ndarray:
        """(S,) the greedy action in every state."""
        return self.q.argmax(axis=1)


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
    n_states, n_actions = env.observation_space.n, env.action_space.n
    q = np.zeros((n_states, n_actions)) if q is None else q
    check_shape(q, "q", (n_states, n_actions))
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    result = QLearningResult(q)
    for episode in range(episodes):
        eps = epsilon(episode) if callable(epsilon) else epsilon
        state, _ = env.reset(seed=seed if episode == 0 else None)
        total, length, done = 0.0, 0, False
        while not done:
            action = epsilon_greedy(q[state], eps, rng)
            next_state, reward, terminated, truncated, _ = env.step(action)
            q_learning_update(q, state, action, float(reward), next_state, terminated, alpha, gamma)
            state, total, length = next_state, total + float(reward), length + 1
            done = terminated or truncated
        result.returns.append(total)
        result.lengths.append(length)
    return result


# ----------------------------------------------------------------------------- replay buffer


class Batch(NamedTuple):
    """A minibatch of transitions, NumPy arrays.

    Attributes:
        obs: (B, D) float32 states s.
        actions: (B,) int64 actions a.
        rewards: (B,) float32 rewards r.
        next_obs: (B, D) float32 next states s'.
        terminated: (B,) float32, 1.0 where s' ended the episode.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray


class ReplayBuffer:
    """A fixed-size memory of transitions (s, a, r, s', terminated), sampled uniformly.

    Training on consecutive steps would feed the network highly correlated examples, and
    forget old experience as fast as it learns new. The buffer keeps the last ``capacity``
    transitions (the oldest is overwritten first) and hands out random minibatches of them,
    so every update mixes old and new experience, and every transition is reused many times.

    Args:
        capacity: the most transitions kept.
        obs_dim: D, the length of a state vector.
        rng: the generator minibatches are drawn from.
    """

    def __init__(self, capacity: int, obs_dim: int, rng: np.random.Generator) -> None:
        check_positive(capacity, "capacity")
        check_positive(obs_dim, "obs_dim")
        self.capacity, self.obs_dim, self.rng = int(capacity), int(obs_dim), rng
        self.obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)  # (capacity, D)
        self.next_obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)  # (capacity, D)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.position = 0  # where the next transition goes
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        """Store one transition, overwriting the oldest when the buffer is full.

        Args:
            obs: (D,) the state s.
            action: a.
            reward: r.
            next_obs: (D,) the next state s'.
            terminated: whether s' ended the episode (True bootstraps nothing from s').
        """
        check_shape(np.asarray(obs), "obs", (self.obs_dim,))
        check_shape(np.asarray(next_obs), "next_obs", (self.obs_dim,))
        i = self.position
        self.obs[i], self.next_obs[i] = obs, next_obs
        self.actions[i], self.rewards[i], self.terminated[i] = action, reward, float(terminated)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> Batch:
        """``batch_size`` stored transitions drawn uniformly at random, with replacement."""
        check_positive(batch_size, "batch_size")
        if self.size == 0:
            raise ValueError("the replay buffer is empty; add transitions before sampling.")
        idx = self.rng.integers(0, self.size, size=batch_size)  # (B,)
        return Batch(self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminated[idx])

    def states(self) -> np.ndarray:
        """(size, D) every stored state s (a view, in storage order)."""
        return self.obs[: self.size]


# ----------------------------------------------------------------------------- episodes


@dataclass
class Episode:
    """One episode played by a fixed policy.

    Attributes:
        total_reward: the undiscounted return.
        length: the number of steps.
        frames: the rendered RGB frames (H, W, 3), one per state, when asked for.
        states: the observations, one per state (the first included).
    """

    total_reward: float
    length: int
    frames: list[np.ndarray] = field(default_factory=list)
    states: list[Any] = field(default_factory=list)


def run_episode(
    env: Any, policy: Callable[[Any], int], seed: int | None = None, render: bool = False, max_steps: int | None = None
) -> Episode:
    """Play one episode with ``policy`` (a function from observation to action).

    Args:
        env: a gymnasium environment; with ``render=True`` it must be made with
            ``render_mode="rgb_array"``.
        policy: observation -> action.
        seed: passed to ``env.reset``.
        render: keep a rendered frame of every state.
        max_steps: stop early after this many steps (the environment's own time limit applies anyway).
    """
    obs, _ = env.reset(seed=seed)
    episode = Episode(0.0, 0, states=[obs])
    if render:
        episode.frames.append(env.render())
    done = False
    while not done and (max_steps is None or episode.length < max_steps):
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        episode.total_reward += float(reward)
        episode.length += 1
        episode.states.append(obs)
        if render:
            episode.frames.append(env.render())
        done = terminated or truncated
    return episode


def evaluate(env: Any, policy: Callable[[Any], int], episodes: int, seed: int) -> np.ndarray:
    """The returns of ``episodes`` episodes, episode ``i`` reset with seed ``seed + i``.

    Fixed seeds make every call see the same start states, so two policies are compared on
    equal terms.

    Returns:
        (episodes,) float64 returns.
    """
    return np.array([run_episode(env, policy, seed=seed + i).total_reward for i in range(episodes)])


# ----------------------------------------------------------------------------- DQN training loop


@dataclass
class DQNConfig:
    """Hyperparameters of DQN; the defaults are RL Baselines3 Zoo's tuned values for CartPole-v1.

    One translation: the Zoo's ``target_update_interval=10`` counts environment steps, and
    since its updates come in bursts of 128 every 256 steps, it amounts to one copy of the
    online network per burst; here the interval counts gradient steps, so that is 128. (Read
    as 10 gradient steps, the same recipe made the Q-values diverge in our tests.)

    Attributes:
        hidden: the widths of the Q-network's hidden layers.
        lr: Adam's learning rate.
        batch_size: transitions per gradient step.
        buffer_size: the replay buffer's capacity.
        learning_starts: environment steps of pure collection before the first update.
        gamma: the discount factor.
        train_every: environment steps between two bursts of updates.
        gradient_steps: gradient steps per burst.
        target_update_every: gradient steps between two copies of the online network into the target.
        epsilon_start: exploration at step 0.
        epsilon_end: exploration after the schedule.
        exploration_fraction: the share of training over which epsilon falls.
        loss: ``"huber"`` (smooth L1, as in the DQN paper's clipped error) or ``"mse"``.
        max_grad_norm: rescale the gradient when its norm (over all parameters) exceeds this; None: never.
        double: Double DQN: the online network picks the next action, the target network values it.
    """

    hidden: tuple[int, ...] = (256, 256)  # two hidden layers of 256 ReLU units
    lr: float = 2.3e-3  # Adam
    batch_size: int = 64  # transitions per gradient step
    buffer_size: int = 100_000  # more than any run here collects: nothing is forgotten
    learning_starts: int = 1000  # random-ish collection first
    gamma: float = 0.99  # rewards 100 steps away still count about a third
    train_every: int = 256  # environment steps between bursts of updates
    gradient_steps: int = 128  # updates per burst
    target_update_every: int = 128  # gradient steps between target copies: once per burst
    epsilon_start: float = 1.0  # act at random at first
    epsilon_end: float = 0.04  # a little exploration forever
    exploration_fraction: float = 0.16  # epsilon reaches its end after 16 % of training
    loss: str = "huber"  # or "mse"
    max_grad_norm: float | None = 10.0  # gradient-norm clipping, as Stable-Baselines3's DQN
    double: bool = False  # Double DQN targets


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


@dataclass
class DQNHistory:
    """What happened during :func:`train_dqn`.

    Attributes:
        episode_returns: the undiscounted return of every finished training episode
            (played with exploration).
        episode_steps: the environment step at which each of those episodes ended.
        losses: the mean loss of every burst of gradient steps.
        eval_steps: the environment steps at which the greedy policy was evaluated.
        eval_returns: the mean greedy return at each of those evaluations.
        best_return: the highest of ``eval_returns`` (-inf without evaluations).
        best_step: the step of that evaluation.
        best_state: the agent's ``state_dict()`` at that evaluation (None without evaluations).
        env_steps: the training environment steps taken (evaluation episodes not counted).
    """

    episode_returns: list[float] = field(default_factory=list)
    episode_steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_returns: list[float] = field(default_factory=list)
    best_return: float = float("-inf")
    best_step: int = -1
    best_state: dict | None = None
    env_steps: int = 0


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
) -> DQNHistory:
    """Train a DQN agent (either tree's) for ``total_steps`` environment steps.

    Every step: pick an epsilon-greedy action, step the environment, store the transition.
    After ``learning_starts`` steps, every ``train_every`` steps: ``gradient_steps`` updates
    on minibatches from the replay buffer, copying the online network into the target every
    ``target_update_every`` of them. Every ``eval_every`` steps (if > 0), play
    ``eval_episodes`` greedy episodes on ``eval_env`` and remember the best network seen;
    those evaluation steps are not counted in ``total_steps``.

    Args:
        agent: a :class:`dlcourse.numpy.dqn.DQNAgent` or :class:`dlcourse.torch.dqn.DQNAgent`.
        env: the training environment.
        total_steps: environment steps to train for.
        seed: seeds the first reset and the replay buffer's sampling.
        eval_env: a separate environment for greedy evaluation.
        eval_every: environment steps between evaluations; 0 for none.
        eval_episodes: episodes per evaluation (seeds 10_000 + i, the same every time).
        stop_at: stop as soon as an evaluation reaches this mean return.
        progress: show a tqdm bar over environment steps.
        buffer: the replay buffer to fill, to look at afterwards; by default a new one of
            ``config.buffer_size`` (at most ``total_steps``) sampling with ``seed``.

    Returns:
        The :class:`DQNHistory`.
    """
    check_positive(total_steps, "total_steps")
    config = agent.config
    if buffer is None:
        obs_dim = env.observation_space.shape[0]
        buffer = ReplayBuffer(min(config.buffer_size, total_steps), obs_dim, np.random.default_rng(seed))
    history = DQNHistory()
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    episode_return, gradient_steps, burst = 0.0, 0, []
    bar = tqdm(range(total_steps), desc="env steps", disable=not progress, mininterval=0.5)
    for step in bar:
        epsilon = linear_schedule(
            step, total_steps, config.epsilon_start, config.epsilon_end, config.exploration_fraction
        )
        action = agent.act(obs, epsilon)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, float(reward), next_obs, terminated)
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
        history.env_steps = step + 1
        if eval_env is not None and eval_every and (step + 1) % eval_every == 0:
            mean = float(evaluate(eval_env, agent.greedy, eval_episodes, seed=10_000).mean())
            history.eval_steps.append(step + 1)
            history.eval_returns.append(mean)
            if mean > history.best_return:
                history.best_return, history.best_step, history.best_state = mean, step + 1, agent.state_dict()
            bar.set_postfix(greedy_return=f"{mean:.0f}", refresh=False)
            if stop_at is not None and mean >= stop_at:
                break
    bar.close()
    return history


# ----------------------------------------------------------------------------- pictures

_ARROWS = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}  # FrozenLake: left, down, right, up as (dx, dy) on screen


def plot_frozenlake(ax: Any, q: np.ndarray, desc: Any, title: str = "", vmax: float | None = None) -> Any:
    """Draw a FrozenLake map: each cell shaded by its value max_a Q(s, a), with the greedy action as an arrow.

    Holes are dark, the goal is marked G and the start S. Cells whose actions all have the
    same value (nothing learned yet) get a dot instead of an arrow.

    Args:
        ax: a Matplotlib Axes.
        q: (S, A) the action values, S = rows * cols, actions left, down, right, up.
        desc: the map, ``env.unwrapped.desc`` (rows of bytes such as ``b"S"``, ``b"F"``, ``b"H"``, ``b"G"``).
        title: the axes title.
        vmax: the top of the colour scale (default: the largest value, at least 1e-9).
    """
    import matplotlib.patches as patches

    desc = np.asarray(desc).astype(str)  # (rows, cols) letters
    rows, cols = desc.shape
    check_shape(q, "q", (rows * cols, 4))
    values = q.max(axis=1).reshape(rows, cols)  # (rows, cols)
    top = vmax if vmax is not None else max(float(values.max()), 1e-9)
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=top)
    for r in range(rows):
        for c in range(cols):
            letter, s = desc[r, c], r * cols + c
            if letter == "H":
                ax.add_patch(patches.Rectangle((c - 0.5, r - 0.5), 1, 1, color="0.25"))
                ax.text(c, r, "hole", ha="center", va="center", color="white", fontsize=7)
                continue
            if letter == "G":
                ax.text(c, r, "G", ha="center", va="center", fontsize=13, weight="bold", color="#E69F00")
                continue
            colour = "white" if values[r, c] > 0.6 * top else "black"
            if np.ptp(q[s]) == 0:
                ax.plot(c, r, "o", ms=3, color=colour)
            else:
                dx, dy = _ARROWS[int(q[s].argmax())]
                ax.annotate(
                    "",
                    (c + 0.32 * dx, r + 0.32 * dy),
                    (c - 0.32 * dx, r - 0.32 * dy),
                    arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.6},
                )
            ax.text(c - 0.45, r - 0.45, f"{values[r, c]:.2f}", ha="left", va="top", fontsize=6.5, color=colour)
            if letter == "S":
                ax.text(c + 0.45, r + 0.45, "S", ha="right", va="bottom", fontsize=8, weight="bold", color=colour)
    ax.set(xticks=[], yticks=[], title=title)
    ax.grid(False)
    return image


def animate(frames: Sequence[np.ndarray], fps: int = 25, width: float = 3.6, dpi: int = 60, every: int = 1) -> Any:
    """Turn RGB frames into a JavaScript animation that plays in Jupyter and in the static HTML book.

    The frames are embedded as PNG images in one HTML snippet (Matplotlib's ``to_jshtml``),
    with play, pause and step buttons; no kernel and no network are needed to watch it. Keep
    the snippet small: fewer frames (``every``), a narrow figure and a low ``dpi``.

    Args:
        frames: (H, W, 3) uint8 images, such as ``env.render()`` with ``render_mode="rgb_array"``.
        fps: frames per second of playback (before thinning with ``every``).
        width: the figure's width in inches; the height follows the frames' aspect ratio.
        dpi: pixels per inch of the embedded images.
        every: keep every ``every``-th frame (and slow the clock to match).

    Returns:
        An ``IPython.display.HTML`` object; make it the last expression of a cell.
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML
    from matplotlib import animation

    frames = list(frames)[::every]
    if not frames:
        raise ValueError("frames is empty; render at least one frame (render_mode='rgb_array').")
    height = width * frames[0].shape[0] / frames[0].shape[1]
    # The frames fill the whole figure; a layout engine (the course style turns one on) has nothing to do.
    with plt.rc_context({"figure.constrained_layout.use": False}):
        fig = plt.figure(figsize=(width, height), dpi=dpi)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        image = ax.imshow(frames[0])

        def show(i: int) -> list:
            image.set_data(frames[i])
            return [image]

        anim = animation.FuncAnimation(fig, show, frames=len(frames), interval=1000 * every / fps, blit=True)
        html = anim.to_jshtml(fps=max(1, round(fps / every)), default_mode="once")
    plt.close(fig)
    return HTML(stable_ids(offline_controls(html)))


def stable_ids(html: str) -> str:
    """Replace the random id that ``to_jshtml`` gives each player (``uuid4``) by a hash of the player
    itself, so that the same animation gives the same HTML on every run (for nbval's comparison)."""
    found = re.search(r"_anim_img([0-9a-f]{32})", html)
    if found is None:
        return html
    uid = found.group(1)
    stable = hashlib.sha1(html.replace(uid, "").encode()).hexdigest()[:32]
    return html.replace(uid, stable)


# Matplotlib's player draws its buttons with Font Awesome icons, loaded from a CDN: the book
# must not reach the network, so the stylesheet is dropped and each icon becomes a character.
_ICONS = {
    "fa fa-minus": "\u2212",
    "fa fa-fast-backward": "\u23ee",
    "fa fa-step-backward": "\u23f4\u23f4",
    "fa fa-play fa-flip-horizontal": "\u25c0",
    "fa fa-pause": "\u23f8",
    "fa fa-play": "\u25b6",
    "fa fa-step-forward": "\u23f5\u23f5",
    "fa fa-fast-forward": "\u23ed",
    "fa fa-plus": "+",
}


def offline_controls(html: str) -> str:
    """Make Matplotlib's ``to_jshtml`` player self-contained: no stylesheet from the network,
    and plain characters instead of Font Awesome icons on its buttons."""
    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*">\s*', "", html)
    for icon, text in _ICONS.items():
        html = html.replace(f'<i class="{icon}"></i>', text)
    return html
