r"""REINFORCE with a learned baseline in PyTorch, mirroring :mod:`dlcourse.numpy.reinforce`.

The same networks (built from :mod:`dlcourse.torch.layers`, weights drawn from the same NumPy
generator), the same losses and the same Adam (:mod:`dlcourse.torch.optim`); gradients come
from autograd, and :func:`policy_loss_backward` writes the loss gradient out by hand so that it
can be checked against autograd. The networks are tiny and an agent acts one state at a time,
so the agent lives on the CPU; states arrive as NumPy arrays and actions leave as Python ints.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

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
from dlcourse.torch import layers as L
from dlcourse.torch import optim
from dlcourse.validation import as_count, as_float_tensor, as_real, check_rng

__all__ = ["ReinforceAgent", "policy_loss_backward", "policy_loss_forward", "policy_network", "value_network"]


def _tanh_mlp(sizes: list[int], rng: np.random.Generator) -> L.Sequential:
    """Linear, Tanh, ..., Linear through the widths ``sizes`` (Xavier initialised, as the NumPy tree)."""
    layers: list[torch.nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(L.Linear(fan_in, fan_out, rng, init="xavier"))
        if i < len(sizes) - 2:
            layers.append(L.Tanh())
    return L.Sequential(*layers)


def policy_network(obs_dim: int, n_actions: int, hidden: Sequence[int], rng: np.random.Generator) -> L.Sequential:
    """An MLP from a state to one logit per action, (N, D) -> (N, A); weights as the NumPy tree draws them."""
    return _tanh_mlp(check_q_network(obs_dim, n_actions, hidden, rng), rng)  # [D, *hidden, A]


def value_network(obs_dim: int, hidden: Sequence[int], rng: np.random.Generator) -> L.Sequential:
    """An MLP from a state to one number, the expected reward-to-go there, (N, D) -> (N, 1)."""
    return _tanh_mlp(check_q_network(obs_dim, 1, hidden, rng), rng)  # [D, *hidden, 1]


def policy_loss_forward(
    logits: torch.Tensor, actions: torch.Tensor, advantages: torch.Tensor, *, check: bool = True
) -> tuple[torch.Tensor, tuple]:
    """The REINFORCE loss -mean(A_n log softmax(z_n)[a_n]) as a 0-dim tensor autograd can differentiate
    (the NumPy tree returns a float), and ``cache = (probs, actions, advantages)``; the advantages are
    constants. ``check=False`` skips checking the arguments (:meth:`ReinforceAgent.update` checks its episodes).
    """
    if check:
        logits, actions, advantages = check_policy_loss(logits, actions, advantages, as_float_tensor, numpy=False)
        actions, advantages = torch.as_tensor(actions), advantages.to(logits.device)
    actions, advantages = actions.long().to(logits.device), advantages.detach()
    logp = torch.log_softmax(logits, dim=1)  # (N, A)
    loss = -(advantages * logp.gather(1, actions[:, None]).squeeze(1)).mean()
    return loss, (logp.detach().exp(), actions, advantages)


def policy_loss_backward(dout: float, cache: tuple) -> torch.Tensor:
    """Gradient of the loss with respect to the logits, (N, A): row n is A_n / N (softmax(z_n) - onehot(a_n))."""
    probs, actions, adv = cache
    n, scale = probs.shape[0], as_real(dout, "dout") / probs.shape[0]
    dlogits = probs * adv[:, None]  # (N, A)
    dlogits[torch.arange(n, device=probs.device), actions] -= adv
    return dlogits * scale


class ReinforceAgent:
    """A REINFORCE agent: a softmax policy network, a value network as its baseline, one Adam for each.

    Args:
        obs_dim: D.
        n_actions: A.
        rng: draws the weights (exactly as the NumPy tree does), then the actions.
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
        self.policy_optimizer = optim.Adam(list(self.policy.parameters()), lr=self.config.lr)
        self.value_optimizer = optim.Adam(list(self.value.parameters()), lr=self.config.value_lr)

    @torch.no_grad()
    def probs(self, obs: np.ndarray) -> np.ndarray:
        """The policy's action probabilities as a NumPy array: (D,) -> (A,), or (N, D) -> (N, A)."""
        obs = as_obs(obs, self.obs_dim)  # float32
        logits = self.policy(torch.from_numpy(np.ascontiguousarray(obs.reshape(-1, self.obs_dim))))  # (N, A)
        return torch.softmax(logits, dim=1).numpy().reshape(*obs.shape[:-1], self.n_actions)

    def act(self, obs: np.ndarray) -> int:
        """An action drawn from the policy in state ``obs`` (D,), with the agent's generator."""
        return sample_action(self.probs(as_obs(obs, self.obs_dim, single=True)), self.rng)

    def greedy(self, obs: np.ndarray) -> int:
        """The policy's most probable action in state ``obs`` (D,)."""
        return int(np.argmax(check_probs(self.probs(as_obs(obs, self.obs_dim, single=True)))))

    def update(self, episodes: Sequence[Trajectory]) -> dict[str, float]:
        """One policy-gradient step and one value-regression step from a batch of whole episodes;
        returns ``policy_loss``, ``value_loss`` (before the step) and ``entropy`` (nats), as floats."""
        cfg = self.config
        obs, actions, returns = episode_batch(check_episodes(episodes, self.obs_dim, self.n_actions), cfg.gamma)
        obs_t = torch.from_numpy(obs)  # (N, D)
        values = self.value(obs_t)  # (N, 1)
        adv = advantages(returns, values.detach().numpy()[:, 0], cfg.normalize_advantages)  # (N,) NumPy float64
        logits = self.policy(obs_t)  # (N, A)
        policy_loss, cache = policy_loss_forward(
            logits, torch.from_numpy(actions), torch.from_numpy(adv.astype(np.float32)), check=False
        )
        self.policy_optimizer.zero_grad()
        policy_loss.backward()
        if cfg.max_grad_norm is not None:
            optim.clip_grad_norm(list(self.policy.parameters()), cfg.max_grad_norm)
        self.policy_optimizer.step()
        target = torch.from_numpy(returns.astype(np.float32))[:, None]  # (N, 1)
        value_loss = ((values - target) ** 2).mean()
        self.value_optimizer.zero_grad()
        value_loss.backward()
        self.value_optimizer.step()
        probs = cache[0]  # (N, A)
        entropy = -float((probs * probs.clamp_min(1e-30).log()).sum(dim=1).mean())
        return {
            "policy_loss": float(policy_loss.detach()),
            "value_loss": float(value_loss.detach()),
            "entropy": entropy,
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Copies of both networks' weights, ``policy.<name>`` and ``value.<name>``."""
        own = {"policy": self.policy, "value": self.value}
        return {f"{net}.{k}": v.detach().clone() for net, module in own.items() for k, v in module.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load weights into both networks (the optimisers' moments are left as they are)."""
        own = {"policy": self.policy, "value": self.value}
        shapes = {f"{net}.{k}": tuple(p.shape) for net, module in own.items() for k, p in module.state_dict().items()}
        state = check_state(state, shapes, as_float_tensor)
        for net, module in own.items():
            module.load_state_dict({k.removeprefix(f"{net}."): v for k, v in state.items() if k.startswith(net + ".")})
