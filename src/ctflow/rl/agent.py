"""Maximum-entropy actor-critic agents: SAC, latent SAC (K = 0) and SMAC.

One agent class covers the three: a policy ``pi(a | s, z)`` (a tanh-squashed diagonal Gaussian)
with a latent ``z ~ p(z | s)`` (none for SAC), twin critics ``Q_i(s, z, a)`` with target copies,
and an automatically tuned temperature ``alpha``. With ``K`` particles the policy's
log-probability is the SMAC estimate :func:`~ctflow.rl.estimators.marginal_log_prob`:

- critic: particle ``k`` regresses ``Q_i(s, z_k, a)`` on its own target ``y_k = r + gamma (1 - d)
  (min_i Q_targ,i(s', z'_k, a'_k) - alpha log pi_hat(a'_k | s'))``, where ``log pi_hat(a'_k | s')``
  scores ``a'_k`` under all ``K + 1`` next-state particles;
- actor: ``E[alpha log pi_hat(a_0 | s) - Agg_k min_i Q_i(s, z_k, a_0)]``, the action drawn from
  particle 0 by reparameterisation and shared by every particle;
- temperature: ``-log alpha (log pi_hat + target_entropy)``, target entropy ``-|A|``.

References:
    Haarnoja et al., Soft Actor-Critic Algorithms and Applications, arXiv 1812.05905.
    Zhang et al., Latent State Marginalization as a Low-cost Approach for Improving Exploration,
    arXiv 2210.00999.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .estimators import AGGREGATIONS, aggregate_particles, marginal_log_prob
from .networks import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    InjectMLP,
    MLPEncoder,
    RecurrentEncoder,
    squashed_log_prob,
)

__all__ = ["AgentConfig", "ActorCritic", "SAC", "SMAC"]


@dataclass
class AgentConfig:
    """Sizes and hyper-parameters of an :class:`ActorCritic`.

    Attributes:
        hidden: hidden widths of the actor and each critic.
        latent_dim: size of ``z`` (0: a plain SAC policy, no latent).
        particles: ``K``, the extra particles of the marginal estimate (0: latent SAC, the
            conditional ``log pi(a | s, z_0)``).
        inject: the hidden layer where ``z`` and ``a`` join the observation (``"first"``: a plain
            MLP of the concatenation, as SAC is usually written; ``"last"``: the observation trunk
            runs once and only a small head runs per particle).
        encoder: ``"prior"`` (``z ~ N(0, I)`` whatever the state: a latent-variable policy
            ``pi(a | s) = E_z pi(a | s, z)``, nothing for the actor to collapse but the head),
            ``"mlp"`` (a learned ``p(z | s)`` from the observation) or ``"gru"`` (a recurrent
            belief over a stacked observation history of ``history`` steps).
        encoder_hidden: hidden width of the encoder.
        history: steps in the observation window (``encoder="gru"`` only).
        aggregate: how the actor combines particle critics: mean, logmeanexp or min.
        gamma, tau: discount and Polyak rate of the target critics.
        lr: Adam learning rate of actor, critics and temperature.
        init_alpha: initial temperature.
        critic_latent: the critics see ``z`` (``Q(s, z, a)``, one value per particle, as when
            ``z`` is a belief state); False: ``Q(s, a)``, each particle still bringing its own
            target action ``a'_k``.
        learn_alpha: tune the temperature towards ``target_entropy`` (False: keep ``init_alpha``).
        target_entropy: None for ``-|A|``.
    """

    hidden: tuple[int, ...] = (256, 256)
    latent_dim: int = 0
    particles: int = 0
    inject: str = "first"
    encoder: str = "mlp"
    encoder_hidden: int = 64
    history: int = 1
    aggregate: str = "mean"
    gamma: float = 0.99
    tau: float = 0.005
    lr: float = 3e-4
    init_alpha: float = 1.0
    learn_alpha: bool = True
    critic_latent: bool = True
    target_entropy: float | None = None

    def __post_init__(self):
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden widths must be positive, got {self.hidden}")
        for name in ("latent_dim", "particles"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.particles and not self.latent_dim:
            raise ValueError("particles > 0 needs a latent (latent_dim > 0)")
        if self.inject not in ("first", "last"):
            raise ValueError(f"inject must be 'first' or 'last', got {self.inject!r}")
        if self.encoder not in ("prior", "mlp", "gru"):
            raise ValueError(f"encoder must be 'prior', 'mlp' or 'gru', got {self.encoder!r}")
        if self.history < 1:
            raise ValueError(f"history must be >= 1, got {self.history}")
        if self.aggregate not in AGGREGATIONS:
            raise ValueError(f"aggregate must be one of {AGGREGATIONS}, got {self.aggregate!r}")
        if not 0 <= self.gamma <= 1 or not 0 < self.tau <= 1:
            raise ValueError(f"need 0 <= gamma <= 1 and 0 < tau <= 1, got {self.gamma}, {self.tau}")
        if not self.lr > 0 or not self.init_alpha > 0:
            raise ValueError("lr and init_alpha must be > 0")


class ActorCritic(nn.Module):
    """A MaxEnt actor-critic with an optional latent-variable policy (SAC / latent SAC / SMAC).

    Actions live in ``[-1, 1]^act_dim``; rescale them to the environment's bounds outside.

    Args:
        obs_dim: observation size (the flattened window when ``config.encoder == "gru"``).
        act_dim: action size.
        config: an :class:`AgentConfig`.

    Examples:
        >>> import torch
        >>> from ctflow.rl import SMAC
        >>> _ = torch.manual_seed(0)
        >>> agent = SMAC(3, 1, particles=8, hidden=(32, 32))
        >>> a = agent.act(torch.zeros(5, 3))
        >>> a.shape, bool(a.abs().max() <= 1)
        (torch.Size([5, 1]), True)
        >>> batch = dict(obs=torch.randn(16, 3), action=torch.rand(16, 1) * 2 - 1,
        ...              reward=torch.randn(16), next_obs=torch.randn(16, 3),
        ...              terminated=torch.zeros(16))
        >>> losses = agent.update(batch)  # one gradient step of everything
        >>> sorted(losses)
        ['actor_loss', 'alpha', 'critic_loss', 'entropy']
    """

    def __init__(self, obs_dim: int, act_dim: int, config: AgentConfig | None = None):
        super().__init__()
        cfg = config or AgentConfig()
        self.config, self.obs_dim, self.act_dim = cfg, obs_dim, act_dim
        inject = 0 if cfg.inject == "first" else len(cfg.hidden) - 1
        dz = cfg.latent_dim
        self.policy = InjectMLP(obs_dim, dz, 2 * act_dim, cfg.hidden, inject)
        if dz == 0 or cfg.encoder == "prior":
            self.encoder = None
        elif cfg.encoder == "mlp":
            self.encoder = MLPEncoder(obs_dim, dz, (cfg.encoder_hidden,))
        else:
            if obs_dim % cfg.history:
                raise ValueError(f"obs_dim {obs_dim} is not a multiple of history {cfg.history}")
            self.encoder = RecurrentEncoder(
                obs_dim // cfg.history, cfg.history, dz, cfg.encoder_hidden
            )
        dq = dz if cfg.critic_latent else 0
        self.q1 = InjectMLP(obs_dim, dq + act_dim, 1, cfg.hidden, inject)
        self.q2 = InjectMLP(obs_dim, dq + act_dim, 1, cfg.hidden, inject)
        self.q1_target = copy.deepcopy(self.q1).requires_grad_(False)
        self.q2_target = copy.deepcopy(self.q2).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(float(cfg.init_alpha)).log())
        self.target_entropy = (
            -float(act_dim) if cfg.target_entropy is None else float(cfg.target_entropy)
        )
        actor_params = list(self.policy.parameters())
        if self.encoder is not None:
            actor_params += list(self.encoder.parameters())
        self.actor_params = actor_params
        self.critic_params = list(self.q1.parameters()) + list(self.q2.parameters())
        self.optimizers = {
            "actor": torch.optim.Adam(actor_params, lr=cfg.lr),
            "critic": torch.optim.Adam(self.critic_params, lr=cfg.lr),
            "alpha": torch.optim.Adam([self.log_alpha], lr=cfg.lr),
        }
        self.updates = 0

    @property
    def alpha(self) -> Tensor:
        return self.log_alpha.exp()

    # -- the latent-variable policy ---------------------------------------------------------

    def sample_latents(self, obs: Tensor, count: int, mean: bool = False) -> Tensor:
        """``count`` reparameterised particles ``z ~ p(z | s)``: ``(*batch, count, latent_dim)``."""
        batch = obs.shape[:-1]
        if self.encoder is None:  # no latent, or the fixed prior N(0, I)
            dz = self.config.latent_dim
            if mean or dz == 0:
                return obs.new_zeros(*batch, count, dz)
            return torch.randn(*batch, count, dz, dtype=obs.dtype, device=obs.device)
        mu, log_std = self.encoder(obs)
        if mean:
            return mu.unsqueeze(-2).expand(*batch, count, mu.shape[-1])
        eps = torch.randn(*batch, count, mu.shape[-1], dtype=obs.dtype, device=obs.device)
        return mu.unsqueeze(-2) + log_std.exp().unsqueeze(-2) * eps

    def action_params(self, obs: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-std of the pre-tanh Gaussian for each particle: ``(*batch, P, act_dim)``."""
        mean, log_std = self.policy(obs, z).chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def policy_sample(
        self, obs: Tensor, particles: int | None = None, scored: int | None = None
    ) -> dict[str, Tensor]:
        """Draw ``K + 1`` particles, an action ``a_k`` from each, and score the first ``scored``
        actions (default: all) under every particle.

        Returns:
            ``z``: ``(*batch, K+1, dz)``; ``action``, ``u`` (pre-tanh): ``(*batch, K+1, A)``;
            ``cond_log_prob`` ``(*batch, S, K+1)``, entry ``[k, j] = log pi(a_k | s, z_j)``;
            ``log_prob``: ``(*batch, S)``, the marginal estimate of each scored ``a_k``
            (``S = scored``).
        """
        K = self.config.particles if particles is None else particles
        z = self.sample_latents(obs, K + 1)
        mean, log_std = self.action_params(obs, z)
        u = mean + log_std.exp() * torch.randn_like(mean)
        # the actor needs only its own action's density: scoring one row, not K + 1, keeps the
        # graph linear in K
        rows = u if scored is None else u[..., :scored, :]
        cross = squashed_log_prob(rows.unsqueeze(-2), mean.unsqueeze(-3), log_std.unsqueeze(-3))
        return {
            "z": z,
            "u": u,
            "action": torch.tanh(u),
            "cond_log_prob": cross,
            "log_prob": marginal_log_prob(cross, dim=-1),
        }

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        """An action in ``[-1, 1]^A`` per observation (``deterministic``: the mean latent and
        the mean action)."""
        z = self.sample_latents(obs, 1, mean=deterministic)
        mean, log_std = self.action_params(obs, z)
        u = mean if deterministic else mean + log_std.exp() * torch.randn_like(mean)
        return torch.tanh(u).squeeze(-2)

    def _critic_input(self, z: Tensor, action: Tensor) -> Tensor:
        return torch.cat([z, action], dim=-1) if self.config.critic_latent else action

    # -- one gradient step -------------------------------------------------------------------

    def update(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One step of temperature, critics, actor, then the target critics.

        Args:
            batch: ``obs`` (B, obs_dim), ``action`` (B, A) in ``[-1, 1]``, ``reward`` (B,),
                ``next_obs`` (B, obs_dim), ``terminated`` (B,) in {0, 1}.

        Returns:
            The losses, the temperature and the policy's entropy estimate, as floats.
        """
        cfg = self.config
        obs, act = batch["obs"], batch["action"]
        P = cfg.particles + 1
        # the actor's sample (particle 0's action); the temperature steps on its log-probability
        now = self.policy_sample(obs, scored=1)
        log_prob = now["log_prob"][..., 0]
        alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
        if cfg.learn_alpha:
            opt = self.optimizers["alpha"]
            opt.zero_grad(set_to_none=True)
            alpha_loss.backward()
            opt.step()
        alpha = self.alpha.detach()
        # critics: particle k on its own target
        with torch.no_grad():
            nxt = self.policy_sample(batch["next_obs"])
            e_next = self._critic_input(nxt["z"], nxt["action"])
            q_next = torch.minimum(
                self.q1_target(batch["next_obs"], e_next), self.q2_target(batch["next_obs"], e_next)
            ).squeeze(-1)
            not_done = 1.0 - batch["terminated"].unsqueeze(-1)
            y = batch["reward"].unsqueeze(-1) + cfg.gamma * not_done * (
                q_next - alpha * nxt["log_prob"]
            )
            if cfg.critic_latent:
                z_now = self.sample_latents(obs, P)
                e_now = torch.cat([z_now, act.unsqueeze(-2).expand(*z_now.shape[:-1], -1)], -1)
            else:  # one critic value per transition, regressed on every particle's target
                e_now = act.unsqueeze(-2)
        q1, q2 = self.q1(obs, e_now).squeeze(-1), self.q2(obs, e_now).squeeze(-1)
        critic_loss = 0.5 * ((q1 - y).pow(2).mean() + (q2 - y).pow(2).mean())
        opt = self.optimizers["critic"]
        opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        opt.step()
        # actor: the action of particle 0, shared by all particles
        a0 = now["action"][..., :1, :]
        if cfg.critic_latent:
            e_pi = self._critic_input(now["z"], a0.expand(*now["z"].shape[:-1], self.act_dim))
        else:
            e_pi = a0
        q_pi = torch.minimum(self.q1(obs, e_pi), self.q2(obs, e_pi)).squeeze(-1)
        actor_loss = (alpha * log_prob - aggregate_particles(q_pi, cfg.aggregate)).mean()
        opt = self.optimizers["actor"]
        opt.zero_grad(set_to_none=True)
        actor_loss.backward(inputs=self.actor_params)
        opt.step()
        with torch.no_grad():
            for target, source in ((self.q1_target, self.q1), (self.q2_target, self.q2)):
                torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), cfg.tau)
        self.updates += 1
        return {
            "critic_loss": float(critic_loss.detach()),
            "actor_loss": float(actor_loss.detach()),
            "alpha": float(alpha),
            "entropy": float(-log_prob.detach().mean()),
        }

    # -- checkpoint support ------------------------------------------------------------------

    def optimizer_state(self) -> dict:
        """The optimisers' states and the update count (for an exact resume)."""
        return {
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "updates": self.updates,
        }

    def load_optimizer_state(self, state: dict) -> None:
        for key, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][key])
        self.updates = int(state["updates"])


class SAC(ActorCritic):
    """Soft actor-critic: no latent, twin critics, target critics, automatic temperature.

    An :class:`ActorCritic` with ``latent_dim=0`` and ``particles=0``; ``options`` are the other
    :class:`AgentConfig` fields (``hidden``, ``gamma``, ``lr``, ``inject``, ...).

    Examples:
        >>> agent = SAC(3, 1, hidden=(32, 32))
        >>> isinstance(agent, ActorCritic), agent.config.particles
        (True, 0)
    """

    def __init__(self, obs_dim: int, act_dim: int, **options) -> None:
        super().__init__(obs_dim, act_dim, AgentConfig(latent_dim=0, particles=0, **options))


class SMAC(ActorCritic):
    """Stochastic marginal actor-critic: a latent-variable policy scored by the ``K``-particle
    marginal estimate (``particles=0``: latent SAC).

    An :class:`ActorCritic` whose trunk is shared across particles (``inject="last"``) unless
    ``options`` (other :class:`AgentConfig` fields) say otherwise.

    Examples:
        >>> agent = SMAC(3, 1, particles=8, hidden=(32, 32))
        >>> agent.config.latent_dim, agent.config.particles, agent.config.inject
        (8, 8, 'last')
    """

    def __init__(
        self, obs_dim: int, act_dim: int, particles: int = 32, latent_dim: int = 8, **options
    ) -> None:
        options.setdefault("inject", "last")
        config = AgentConfig(latent_dim=latent_dim, particles=particles, **options)
        super().__init__(obs_dim, act_dim, config)
