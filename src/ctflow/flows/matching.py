"""Flow-matching losses, the diffusion baselines on the same paths, and predictors as fields.

Time runs from ``t = 0`` (source noise) to ``t = 1`` (data). Every loss draws, per example,
``t ~ U(path.t_range)`` and ``x0 ~ N(0, source_scale^2 I)`` unless given, forms ``x_t`` on the
path, and returns the mean of the squared error over the batch *and* the event entries (a per-entry
MSE; multiply by the event size ``D`` for the paper's ``E ||.||^2``).

Models are called as ``model(t, x_t)`` or, with a context, ``model(t, x_t, context)``, with ``t``
of the batch shape ``x_t.shape[:-event_dims]`` (as :class:`ctflow.nn.TimeMLP` accepts).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .._validate import check_finite, check_in_range, finite_check_applies
from ..paths import AffineGaussianPath, ot_coupling

__all__ = [
    "cfm_loss",
    "score_matching_loss",
    "eps_loss",
    "VelocityFromScore",
    "VelocityFromEps",
    "COUPLINGS",
]

#: the couplings :func:`cfm_loss` accepts (``None``: independent pairs)
COUPLINGS = (None, "exact", "sinkhorn")

Model = Callable[..., Tensor]


def cfm_loss(
    model: Model,
    path: AffineGaussianPath,
    x1: Tensor,
    *,
    x0: Tensor | None = None,
    t: Tensor | float | None = None,
    generator: torch.Generator | None = None,
    coupling: str | None = None,
    context: Tensor | None = None,
    event_dims: int = 1,
) -> Tensor:
    """Conditional flow matching: ``mean (v_theta(t, x_t) - (alpha' x1 + sigma' eps))^2``.

    Its gradient equals that of the (intractable) flow-matching loss against the marginal
    velocity; for a one-point data set the conditional field is the marginal one and the loss of
    the exact field is 0.

    Args:
        model: the velocity field, ``model(t, x[, context])`` returning ``x``'s shape.
        path: the probability path, e.g. :class:`ctflow.paths.CondOTPath`.
        x1: data, shape ``(*batch, *event)`` with ``len(event) = event_dims``.
        x0: source draws of ``x1``'s shape; default ``source_scale * randn``.
        t: times, a float, 0-d, or of shape ``batch``; default ``U(path.t_range)`` per example.
        generator: the random generator for ``x0``, ``t`` and a Sinkhorn coupling.
        coupling: ``None`` (independent pairs), ``"exact"`` or ``"sinkhorn"``: re-pair ``x0``
            with ``x1`` by minibatch OT over all batch entries (see
            :func:`ctflow.paths.ot_coupling`; default ``reg`` and ``n_iter``). With a
            ``context``, only entries of equal context are paired; a context with no repeats
            (continuous) is refused, as no minibatch coupling can honour it.
        context: passed as the model's third argument when given, aligned with ``x1``.
        event_dims: how many trailing dims of ``x1`` form one example (1 for vectors).

    Returns:
        The 0-d loss.

    Examples:
        >>> from ctflow.nn import TimeMLP
        >>> from ctflow.paths import CondOTPath
        >>> loss = cfm_loss(TimeMLP(2), CondOTPath(), torch.randn(64, 2), coupling="exact")
        >>> loss.shape
        torch.Size([])
    """
    if coupling not in COUPLINGS:
        raise ValueError(f"unknown coupling {coupling!r}; choose one of: {COUPLINGS}")
    x0, t = _draw(model, path, x1, x0, t, generator, event_dims)
    if coupling is not None:
        batch = t.shape
        if len(batch) == 0:
            raise ValueError("a coupling needs at least one batch dimension in x1")
        # couple over all batch entries at once: flatten the batch, keep the event; with a
        # context, pairs form only within equal contexts, so the conditioning survives
        event = x1.shape[len(batch) :]
        condition = None if context is None else context.reshape(batch.numel(), -1)
        paired, _ = ot_coupling(
            x0.reshape(-1, *event),
            x1.reshape(-1, *event),
            method=coupling,
            generator=generator,
            condition=condition,
        )
        x0 = paired.reshape(x1.shape)
    sample = path._sample(x0, x1, t)
    v = _call(model, t, sample.x_t, context, "model")
    return _traced((v - sample.dx_t).square().mean(), x1=x1, x0=x0, context=context)


def score_matching_loss(
    model: Model,
    path: AffineGaussianPath,
    x1: Tensor,
    *,
    x0: Tensor | None = None,
    t: Tensor | float | None = None,
    generator: torch.Generator | None = None,
    context: Tensor | None = None,
    event_dims: int = 1,
) -> Tensor:
    """Denoising score matching with ``lambda(t) = sigma_t^2``: ``mean (sigma_t s_theta + eps)^2``.

    The model predicts the score ``grad_x log p_t(x_t)``; the minimiser is the marginal score,
    and for a one-point data set the exact score ``-(x - alpha x1) / sigma^2`` gives 0. Sample the
    trained model with :class:`VelocityFromScore` (the probability-flow ODE).

    Args:
        model: the score model, ``model(t, x[, context])`` returning ``x``'s shape.
        path: the probability path (the paper uses :class:`ctflow.paths.VPPath`).
        x1, x0, t, generator, context, event_dims: as in :func:`cfm_loss`.

    Returns:
        The 0-d loss.

    Examples:
        >>> from ctflow.nn import TimeMLP
        >>> from ctflow.paths import VPPath
        >>> score_matching_loss(TimeMLP(2), VPPath(), torch.randn(64, 2)).shape
        torch.Size([])
    """
    x0, t = _draw(model, path, x1, x0, t, generator, event_dims)
    sample = path._sample(x0, x1, t)
    score = _call(model, t, sample.x_t, context, "model")
    sigma = path.sigma(t).reshape(*t.shape, *([1] * event_dims))
    loss = (sigma * score + x0 / path.source_scale).square().mean()
    return _traced(loss, x1=x1, x0=x0, context=context)


def eps_loss(
    model: Model,
    path: AffineGaussianPath,
    x1: Tensor,
    *,
    x0: Tensor | None = None,
    t: Tensor | float | None = None,
    generator: torch.Generator | None = None,
    context: Tensor | None = None,
    event_dims: int = 1,
) -> Tensor:
    """DDPM noise prediction: ``mean (eps_theta(t, x_t) - eps)^2`` with ``eps = x0 / source_scale``.

    The minimiser is ``E[eps | x_t] = -sigma_t * score``. Sample the trained model with
    :class:`VelocityFromEps`.

    Args:
        model: the noise model, ``model(t, x[, context])`` returning ``x``'s shape.
        path: the probability path (the paper uses :class:`ctflow.paths.VPPath`).
        x1, x0, t, generator, context, event_dims: as in :func:`cfm_loss`.

    Returns:
        The 0-d loss.

    Examples:
        >>> from ctflow.nn import TimeMLP
        >>> from ctflow.paths import VPPath
        >>> eps_loss(TimeMLP(2), VPPath(), torch.randn(64, 2)).shape
        torch.Size([])
    """
    x0, t = _draw(model, path, x1, x0, t, generator, event_dims)
    sample = path._sample(x0, x1, t)
    eps = _call(model, t, sample.x_t, context, "model")
    return _traced((eps - x0 / path.source_scale).square().mean(), x1=x1, x0=x0, context=context)


class _VelocityFromPredictor(nn.Module):
    """``v(t, x, c=None)`` from a model predicting something the path converts to a velocity."""

    def __init__(self, model: nn.Module, path: AffineGaussianPath, event_dims: int = 1):
        super().__init__()
        if not callable(model):
            raise TypeError(f"model must be callable as model(t, x), got {type(model).__name__}")
        _check_path(path)
        _check_event_dims(event_dims)
        self.model, self.path, self.event_dims = model, path, event_dims

    def forward(self, t: Tensor | float, x: Tensor, c: Tensor | None = None) -> Tensor:
        t = self._time(t, x)
        return self._convert(x, _call(self.model, t, x, c, "model"), t)

    def value_and_divergence(
        self, t: Tensor | float, x: Tensor, c: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """The velocity and its divergence from the model's closed form, without autograd.

        Uses ``model.value_and_divergence`` (as :class:`ctflow.nn.TimeMLP` offers) and the
        conversion's linearity: ``v = A x + B p(x)`` gives ``div v = A D + B div p``. Raises
        ``NotImplementedError`` when the model has none, so callers fall back to autograd.

        Shapes: ``x`` is ``(*batch, D)``; returns ``(*batch, D)`` and ``batch``.
        """
        closed_form = getattr(self.model, "value_and_divergence", None)
        if not callable(closed_form) or self.event_dims != 1:
            raise NotImplementedError("the model has no closed-form divergence")
        t = self._time(t, x)
        pred, div_pred = closed_form(t, x) if c is None else closed_form(t, x, c)
        # A and B, per example: the conversion at (x, p) = (1, 0) and (0, 1)
        ones, zeros = torch.ones_like(x[..., :1]), torch.zeros_like(x[..., :1])
        coef_x = self._convert(ones, zeros, t)[..., 0]
        coef_p = self._convert(zeros, ones, t)[..., 0]
        return self._convert(x, pred, t), coef_x * x.shape[-1] + coef_p * div_pred

    def _time(self, t: Tensor | float, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError("x must be a floating-point tensor")
        if x.dim() < self.event_dims:
            raise ValueError(f"x must have at least event_dims={self.event_dims} dims")
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if t.dim() == 0:
            return t
        batch = x.shape[: x.dim() - self.event_dims]
        try:
            return t.expand(batch)
        except RuntimeError:
            raise ValueError(
                f"t must be 0-d or broadcastable to the batch shape {tuple(batch)}, "
                f"got shape {tuple(t.shape)}"
            ) from None

    def _convert(self, x: Tensor, pred: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError


class VelocityFromScore(_VelocityFromPredictor):
    """The probability-flow velocity of a score model: ``(a'/a) x + (a' s^2/a - s s') score``.

    A field ``forward(t, x, c=None)`` for :class:`ctflow.flows.CNF` and
    :func:`ctflow.solvers.odeint`. On :class:`ctflow.paths.VPPath` it is singular at ``t = 1``:
    integrate from ``path.t_range[0]`` to ``path.t_range[1]`` (e.g. ``CNF(..., t1=t_max)``). It
    divides by ``alpha``, so on :class:`ctflow.paths.CondOTPath` avoid ``t = 0``.

    Args:
        score_model: ``score_model(t, x[, c])``, the score ``grad log p_t``, of ``x``'s shape.
        path: the path the model was trained on.
        event_dims: how many trailing dims of ``x`` form one example.

    Shapes: ``t`` is 0-d or broadcastable to ``x.shape[:-event_dims]``; ``x`` is
    ``(*batch, *event)``; returns ``x``'s shape.

    Examples:
        >>> from ctflow.flows import CNF
        >>> from ctflow.nn import TimeMLP
        >>> from ctflow.paths import VPPath
        >>> path = VPPath()
        >>> field = VelocityFromScore(TimeMLP(2), path)
        >>> flow = CNF(field, 2, t1=path.t_range[1], method="rk4", step_size=0.05)
        >>> flow().sample((3,)).shape
        torch.Size([3, 2])
    """

    def __init__(self, score_model: nn.Module, path: AffineGaussianPath, event_dims: int = 1):
        super().__init__(score_model, path, event_dims)

    def _convert(self, x: Tensor, pred: Tensor, t: Tensor) -> Tensor:
        return self.path.velocity_from_score(x, pred, t)


class VelocityFromEps(_VelocityFromPredictor):
    """The probability-flow velocity of a noise model: ``(a' x + (a s' - a' s) eps) / a``.

    A field ``forward(t, x, c=None)`` for :class:`ctflow.flows.CNF` and
    :func:`ctflow.solvers.odeint`. On :class:`ctflow.paths.VPPath` it is singular at ``t = 1``:
    integrate from ``path.t_range[0]`` to ``path.t_range[1]`` (e.g. ``CNF(..., t1=t_max)``). It
    divides by ``alpha``, so on :class:`ctflow.paths.CondOTPath` avoid ``t = 0``.

    Args:
        eps_model: ``eps_model(t, x[, c])``, the noise ``E[eps | x_t]``, of ``x``'s shape.
        path: the path the model was trained on.
        event_dims: how many trailing dims of ``x`` form one example.

    Shapes: ``t`` is 0-d or broadcastable to ``x.shape[:-event_dims]``; ``x`` is
    ``(*batch, *event)``; returns ``x``'s shape.

    Examples:
        >>> from ctflow.nn import TimeMLP
        >>> from ctflow.paths import VPPath
        >>> field = VelocityFromEps(TimeMLP(2), VPPath())
        >>> field(torch.tensor(0.5), torch.randn(4, 2)).shape
        torch.Size([4, 2])
    """

    def __init__(self, eps_model: nn.Module, path: AffineGaussianPath, event_dims: int = 1):
        super().__init__(eps_model, path, event_dims)

    def _convert(self, x: Tensor, pred: Tensor, t: Tensor) -> Tensor:
        return self.path.velocity_from_eps(x, pred, t)


def _check_path(path: object) -> None:
    if not isinstance(path, AffineGaussianPath):
        raise TypeError(
            f"path must be an AffineGaussianPath (e.g. CondOTPath()), got {type(path).__name__}"
        )


def _check_event_dims(event_dims: object) -> None:
    if isinstance(event_dims, bool) or not isinstance(event_dims, int) or event_dims < 1:
        raise ValueError(f"event_dims must be a positive integer, got {event_dims!r}")


def _draw(
    model: Model,
    path: AffineGaussianPath,
    x1: Tensor,
    x0: Tensor | None,
    t: Tensor | float | None,
    generator: torch.Generator | None,
    event_dims: int,
) -> tuple[Tensor, Tensor]:
    """Validate the inputs; return ``x0`` of ``x1``'s shape and ``t`` of the batch shape."""
    if not callable(model):
        raise TypeError(f"model must be callable as model(t, x), got {type(model).__name__}")
    _check_path(path)
    _check_event_dims(event_dims)
    if not isinstance(x1, Tensor) or not x1.is_floating_point():
        raise TypeError(f"x1 must be a floating-point tensor, got {_describe(x1)}")
    if x1.dim() < event_dims:
        raise ValueError(
            f"x1 must have at least event_dims={event_dims} dims, got shape {tuple(x1.shape)}"
        )
    batch = x1.shape[: x1.dim() - event_dims]
    options = dict(dtype=x1.dtype, device=x1.device)
    if x0 is None:
        x0 = torch.randn(x1.shape, generator=generator, **options)
        if path.source_scale != 1.0:
            x0 = x0 * path.source_scale
    elif not isinstance(x0, Tensor) or not x0.is_floating_point():
        raise TypeError(f"x0 must be a floating-point tensor, got {_describe(x0)}")
    elif x0.shape != x1.shape:
        raise ValueError(f"x0 must have x1's shape {tuple(x1.shape)}, got {tuple(x0.shape)}")
    if t is None:
        t_min, t_max = path.t_range
        t = torch.rand(batch, generator=generator, **options)
        if (t_min, t_max) != (0.0, 1.0):
            t = t_min + (t_max - t_min) * t
    else:
        if isinstance(t, bool) or not isinstance(t, (Tensor, int, float)):
            raise TypeError(f"t must be a float or a tensor, got {type(t).__name__}")
        t = torch.as_tensor(t, **options)
        if t.dim() not in (0, len(batch)) or (t.dim() and t.shape != batch):
            raise ValueError(
                f"t must be 0-d or of the batch shape {tuple(batch)}, got {tuple(t.shape)}"
            )
        t = t.expand(batch)
        check_in_range(t, 0.0, 1.0, "t")
    return x0, t


def _traced(loss: Tensor, **inputs: Tensor | None) -> Tensor:
    """``loss``; when it is not finite (on the CPU), a non-finite input is named in a ValueError.

    One read of a 0-d tensor per step instead of a scan of every input: a model that diverges on
    finite inputs still returns its NaN loss, for the trainer's guard to report.
    """
    if finite_check_applies(loss) and not math.isfinite(loss.item()):
        for name, value in inputs.items():
            if value is not None:
                check_finite(value, name)
    return loss


def _call(model: Model, t: Tensor, x: Tensor, context: Tensor | None, name: str) -> Tensor:
    out = model(t, x) if context is None else model(t, x, context)
    if not isinstance(out, Tensor) or out.shape != x.shape:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"{name} must return a tensor of x's shape {tuple(x.shape)}, got {shape}")
    return out


def _describe(value: object) -> str:
    return f"dtype {value.dtype}" if isinstance(value, Tensor) else type(value).__name__
