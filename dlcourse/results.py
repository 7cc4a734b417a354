"""Result and history records shared by the NumPy and PyTorch trees: one home for every record
that a training function returns, whichever tree ran it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class PerceptronResult:
    """What :func:`perceptron_train` learned.

    Attributes:
        weight: (D,) the learned weights (array or tensor, as given).
        bias: the learned bias.
        errors: misclassified training points in each epoch; ends in 0 when the data were separated.
    """

    weight: Any
    bias: float
    errors: list[int] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """True if the last epoch made no mistakes."""
        return bool(self.errors) and self.errors[-1] == 0


@dataclass
class History:
    """Per-epoch metrics of a training run (``fit`` of either tree).

    Attributes:
        train_loss: the mean minibatch loss of each epoch.
        val_loss: the loss on the validation set after each epoch (empty without one).
        val_acc: the accuracy on the validation set after each epoch.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)


@dataclass
class LMHistory:
    """What a language model's training did (:func:`dlcourse.text.train_language_model`, through
    ``train_char_lm`` of either tree).

    Attributes:
        steps: updates made.
        train_loss: mean training loss (nats per character) of each logged stretch of steps.
        logged_at: the step after which each entry of ``train_loss`` was taken.
        lr: the learning rate at each logged step.
        val_loss: validation loss at each entry of ``val_at`` (empty without validation ids).
        val_at: the steps after which the model was evaluated.
        seconds: wall-clock training time, without evaluation.
        characters: training characters read (steps x batch x sequence length).
        epochs: passes over the training text.
    """

    steps: int = 0
    train_loss: list[float] = field(default_factory=list)
    logged_at: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_at: list[int] = field(default_factory=list)
    seconds: float = 0.0
    characters: int = 0
    epochs: float = 0.0


@dataclass
class DQNHistory:
    """What happened during :func:`dlcourse.rl.train_dqn`.

    Attributes:
        episode_returns: the undiscounted return of every finished training episode
            (played with exploration).
        episode_steps: the environment step at which each of those episodes ended.
        losses: the mean loss of every burst of gradient steps.
        eval_steps: the environment steps at which the greedy policy was evaluated.
        eval_returns: the mean greedy return at each of those evaluations.
        best_return: the highest of ``eval_returns`` (-inf without evaluations).
        best_step: the training step of that evaluation.
        best_state: the agent's ``state_dict()`` at that evaluation (None without evaluations).
        best_env_steps: every environment step taken up to and including that evaluation
            (training and evaluation episodes).
        train_steps: the training environment steps taken.
        eval_env_steps: the environment steps of all evaluation episodes.
        env_steps: every environment step the method used: ``train_steps + eval_env_steps``.
    """

    episode_returns: list[float] = field(default_factory=list)
    episode_steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_returns: list[float] = field(default_factory=list)
    best_return: float = float("-inf")
    best_step: int = -1
    best_state: dict | None = None
    best_env_steps: int = 0
    train_steps: int = 0
    eval_env_steps: int = 0

    @property
    def env_steps(self) -> int:
        """Every environment step the method used: training plus evaluation."""
        return self.train_steps + self.eval_env_steps


@dataclass
class QLearningResult:
    """What :func:`dlcourse.rl.q_learning` learned.

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


@dataclass
class Episode:
    """One episode played by a fixed policy (:func:`dlcourse.rl.run_episode`).

    Attributes:
        total_reward: the undiscounted return.
        length: the number of steps.
        frames: the rendered RGB frames (H, W, 3), one per state, when asked for.
        states: the observations, one per state (the first included).
        finished: the environment ended the episode (terminated or truncated it), rather than a
            ``max_steps`` limit: an episode that finishes on its very last allowed step is whole.
    """

    total_reward: float
    length: int
    frames: list[np.ndarray] = field(default_factory=list)
    states: list[Any] = field(default_factory=list)
    finished: bool = False


@dataclass
class ReinforceHistory:
    """What happened during :func:`dlcourse.policy_gradient.train_reinforce`.

    Every environment step counts here, training and evaluation alike, and the step positions
    below are on that one clock: a learning curve drawn against them shows the method's whole cost.

    Attributes:
        episode_returns: the undiscounted return of every training episode (actions sampled from the policy).
        episode_steps: every environment step taken (training and evaluation) when each of those episodes ended.
        policy_losses: the policy loss of every update (its value has no meaning; its gradient does).
        value_losses: the baseline's mean squared error of every update, before its step.
        eval_steps: every environment step taken when each greedy evaluation ended.
        eval_returns: the mean greedy return of each evaluation.
        best_return: the highest of ``eval_returns`` (-inf without evaluations).
        best_state: the agent's ``state_dict()`` at that evaluation (None without evaluations).
        best_env_steps: every environment step taken up to the end of that evaluation.
        train_steps: the environment steps of the training episodes.
        eval_env_steps: the environment steps of the evaluation episodes.
        env_steps: every environment step the method used: ``train_steps + eval_env_steps``.
    """

    episode_returns: list[float] = field(default_factory=list)
    episode_steps: list[int] = field(default_factory=list)
    policy_losses: list[float] = field(default_factory=list)
    value_losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_returns: list[float] = field(default_factory=list)
    best_return: float = float("-inf")
    best_state: dict | None = None
    best_env_steps: int = 0
    train_steps: int = 0
    eval_env_steps: int = 0

    @property
    def env_steps(self) -> int:
        """Every environment step the method used: training plus evaluation."""
        return self.train_steps + self.eval_env_steps
