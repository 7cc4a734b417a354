r"""REINFORCE with a learned baseline in NumPy: a softmax policy and a value network, trained by hand.

The policy network maps a state (D,) to one score (logit) per action, and the softmax of the
scores is the policy :math:`\pi_\theta(\cdot \mid s)`. An update learns from a batch of whole
episodes: every step :math:`t` has its reward-to-go :math:`G_t`, the value network's guess
:math:`V_\phi(s_t)`, and the advantage :math:`A_t = G_t - V_\phi(s_t)`. The policy descends

.. math:: L(\theta) = -\frac{1}{N} \sum_t A_t \log \pi_\theta(a_t \mid s_t),

whose gradient is minus the policy-gradient estimate (the :math:`A_t` are constants), and whose
gradient with respect to the logits :math:`z_t` is :math:`\frac{1}{N} A_t\,(\pi_\theta(\cdot \mid s_t)
- \text{onehot}(a_t))` (:func:`policy_loss_backward`). The value network descends the squared
error :math:`\frac{1}{N}\sum_t (V_\phi(s_t) - G_t)^2`. Each takes one Adam step per update.

The shared pieces (reward-to-go, the batch, advantages, the training loop) are in
:mod:`dlcourse.policy_gradient`. Mirrored by :mod:`dlcourse.torch.reinforce`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlcourse.numpy import layers as L
from dlcourse.numpy import losses, optim
from dlcourse.policy_gradient import (
    ReinforceConfig,
    Trajectory,
    advantages,
    check_episodes,
    check_policy_loss,
    check_probs,
    check_reinforce_config,
    episode_batch,
    sample_action,
)
from dlcourse.replay import as_obs
from dlcourse.rl_checks import check_q_network, check_state
from dlcourse.validation import as_count, as_float_array, as_real, check_rng

__all__ = ["ReinforceAgent", "policy_loss_backward", "policy_loss_forward", "policy_network", "value_network"]


def _tanh_mlp(sizes: list[int], rng: np.random.Generator) -> L.Sequential:
    """Linear, Tanh, ..., Linear through the widths ``sizes`` (Xavier initialised, as suits tanh)."""
    layers: list[L.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(L.Linear(fan_in, fan_out, rng, init="xavier"))
        if i < len(sizes) - 2:
            layers.append(L.Tanh())
    return L.Sequential(*layers)


def policy_network(obs_dim: int, n_actions: int, hidden: Sequence[int], rng: np.random.Generator) -> L.Sequential:
    """An MLP from a state to one logit per action, (N, D) -> (N, A); the softmax of a row is the policy there.

    Args:
        obs_dim: D, the length of a state vector.
        n_actions: A.
        hidden: the widths of the hidden (tanh) layers.
        rng: the generator the weights are drawn from.
    """
    return _tanh_mlp(check_q_network(obs_dim, n_actions, hidden, rng), rng)  # [D, *hidden, A]


def value_network(obs_dim: int, hidden: Sequence[int], rng: np.random.Generator) -> L.Sequential:
    """An MLP from a state to one number, the expected reward-to-go there, (N, D) -> (N, 1).

    Args:
        obs_dim: D.
        hidden: the widths of the hidden (tanh) layers.
        rng: the generator the weights are drawn from.
    """
    return _tanh_mlp(check_q_network(obs_dim, 1, hidden, rng), rng)  # [D, *hidden, 1]


def policy_loss_forward(
    logits: np.ndarray, actions: np.ndarray, advantages: np.ndarray, *, check: bool = True
) -> tuple[float, tuple]:
    r"""The REINFORCE loss :math:`L = -\frac{1}{N}\sum_n A_n \log \mathrm{softmax}(z_n)_{a_n}`.

    Its gradient is minus the policy-gradient estimate, so a descent step on it raises the
    log-probability of actions with a positive advantage and lowers it for a negative one.
    The advantages are constants: no gradient flows into them.

    Args:
        logits: (N, A) the policy network's scores for the states of the batch.
        actions: (N,) integer actions taken, in [0, A).
        advantages: (N,) the advantage of each step.
        check: check the arguments (the default); :meth:`ReinforceAgent.update` checks its episodes and skips it.

    Returns:
        The loss and ``cache = (probs, actions, advantages)``, probs (N, A) the softmax of the logits.
    """
    if check:
        logits, actions, advantages = check_policy_loss(logits, actions, advantages, as_float_array)
    n = logits.shape[0]
    logp = losses.log_softmax(logits)  # (N, A), by log-sum-exp: finite even for huge logits
    loss = -float(np.mean(advantages * logp[np.arange(n), actions]))
    return loss, (np.exp(logp), actions, advantages)


def policy_loss_backward(dout: float, cache: tuple) -> np.ndarray:
    r"""Gradient of :func:`policy_loss_forward` with respect to the logits.

    :math:`\partial \log \mathrm{softmax}(z)_a / \partial z = \text{onehot}(a) - \mathrm{softmax}(z)`,
    so row :math:`n` of the gradient is :math:`\frac{A_n}{N}(\pi_n - \text{onehot}(a_n))`.

    Args:
        dout: the upstream gradient (1.0 for the loss itself).
        cache: from :func:`policy_loss_forward`.

    Returns:
        (N, A) the gradient.
    """
    probs, actions, adv = cache
    n, scale = probs.shape[0], as_real(dout, "dout") / probs.shape[0]
    dlogits = probs * adv[:, None]  # (N, A): A_n * pi_n
    dlogits[np.arange(n), actions] -= adv  # minus A_n at the action taken
    return dlogits * scale


class ReinforceAgent:
    """A REINFORCE agent: a softmax policy network, a value network as its baseline, one Adam for each.

    Both trees build the networks from the same generator (policy first, then value), so a NumPy
    agent and a PyTorch agent created with equal seeds start with identical weights and, from
    equal weights, sample identical actions.

    Args:
        obs_dim: D, the length of a state vector.
        n_actions: A.
        rng: draws the weights, then the actions.
        config: the hyperparameters (:class:`dlcourse.policy_gradient.ReinforceConfig`); its defaults if None.
    """

    def __init__(
        self, obs_dim: int, n_actions: int, rng: np.random.Generator, config: ReinforceConfig | None = None
    ) -> None:
        self.config = check_reinforce_config(config)
        self.obs_dim, self.n_actions = as_count(obs_dim, "obs_dim"), as_count(n_actions, "n_actions")
        self.rng = check_rng(rng)
        self.policy = policy_network(self.obs_dim, self.n_actions, self.config.hidden, rng)
        self.value = value_network(self.obs_dim, self.config.value_hidden, rng)
        self.policy_optimizer = optim.Adam(self.policy.parameters(), lr=self.config.lr)
        self.value_optimizer = optim.Adam(self.value.parameters(), lr=self.config.value_lr)

    def probs(self, obs: np.ndarray) -> np.ndarray:
        """The policy's action probabilities: (D,) -> (A,), or (N, D) -> (N, A)."""
        obs = as_obs(obs, self.obs_dim)  # float32
        logits = self.policy(obs.reshape(-1, self.obs_dim))  # (N, A)
        return losses.softmax(logits).reshape(*obs.shape[:-1], self.n_actions)

    def act(self, obs: np.ndarray) -> int:
        """An action drawn from the policy in state ``obs`` (D,), with the agent's generator."""
        return sample_action(self.probs(as_obs(obs, self.obs_dim, single=True)), self.rng)

    def greedy(self, obs: np.ndarray) -> int:
        """The policy's most probable action in state ``obs`` (D,)."""
        return int(np.argmax(check_probs(self.probs(as_obs(obs, self.obs_dim, single=True)))))

    def update(self, episodes: Sequence[Trajectory]) -> dict[str, float]:
        """One policy-gradient step and one value-regression step from a batch of whole episodes.

        Returns:
            ``policy_loss``, ``value_loss`` (the squared error before the step) and ``entropy``
            (the policy's mean entropy over the batch's states, in nats).
        """
        cfg = self.config
        obs, actions, returns = episode_batch(check_episodes(episodes, self.obs_dim, self.n_actions), cfg.gamma)
        values = self.value(obs)  # (N, 1); the layers keep their caches for the value step below
        adv = advantages(returns, values[:, 0], cfg.normalize_advantages).astype(np.float32)  # (N,)
        logits = self.policy(obs)  # (N, A)
        policy_loss, cache = policy_loss_forward(logits, actions, adv, check=False)
        self.policy_optimizer.zero_grad()
        self.policy.backward(policy_loss_backward(1.0, cache))
        if cfg.max_grad_norm is not None:
            optim.clip_grad_norm(self.policy.parameters(), cfg.max_grad_norm)
        self.policy_optimizer.step()
        value_loss, value_cache = losses.mse_forward(values, returns[:, None].astype(np.float32))  # (N, 1)
        self.value_optimizer.zero_grad()
        self.value.backward(losses.mse_backward(1.0, value_cache))
        self.value_optimizer.step()
        probs = cache[0]  # (N, A)
        entropy = -float(np.mean(np.sum(probs * np.log(np.maximum(probs, 1e-30)), axis=1)))
        return {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of both networks' weights, ``policy.<name>`` and ``value.<name>``."""
        own = {"policy": self.policy, "value": self.value}
        return {f"{net}.{k}": v for net, module in own.items() for k, v in module.state_dict().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Load weights into both networks (the optimisers' moments are left as they are)."""
        own = {"policy": self.policy, "value": self.value}
        shapes = {f"{net}.{k}": p.shape for net, module in own.items() for k, p in module.named_parameters()}
        state = check_state(state, shapes, as_float_array)
        for net, module in own.items():
            module.load_state_dict({k.removeprefix(f"{net}."): v for k, v in state.items() if k.startswith(net + ".")})
