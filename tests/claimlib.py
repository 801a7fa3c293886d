"""The machinery of the claims tier: record each claim, then fail with every broken one named.

A claim check is a function ``check(c)`` of a :class:`Claims`, which holds the quick run's metrics
(``c.m``) and can run the same experiment again with more overrides (``c.rerun``). Each
``c.that(...)`` is one claim: it is counted, and the test fails at the end if any is false, with
every false claim and its numbers in the message (not just the first one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Metrics = Mapping[str, float]


class RunMetrics(dict):
    """A run's metrics; a metric the run did not write reads as NaN (so every claim on it fails)
    and is remembered in ``missing``. A broken run may omit a metric (e.g. a BD-rate of curves
    that do not overlap); the claims tier itself requires every metric it reads."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.missing: set[str] = set()

    def __missing__(self, key: str) -> float:
        self.missing.add(key)
        return math.nan


@dataclass
class Outcome:
    """One claim: its label, whether it held, the numbers, and whether it is a validity check
    (true of any weights, e.g. a bound is a bound: no training control can break it)."""

    label: str
    ok: bool
    detail: str
    validity: bool = False


@dataclass
class Claims:
    """The claims of one experiment's quick run.

    Attributes:
        m: the run's metrics, ``{"method/dataset/metric": value}``.
        rerun: ``rerun(overrides) -> metrics`` runs the experiment again at the same size, seed and
            (for negative controls) breakage, with ``overrides`` added.
        outcomes: every claim checked so far.
    """

    m: Metrics
    rerun: Callable[[dict[str, Any]], Metrics] = lambda overrides: {}
    outcomes: list[Outcome] = field(default_factory=list)

    def that(self, label: str, ok: bool, detail: str = "", validity: bool = False) -> bool:
        """Record claim ``label``; true when ``ok`` is (a NaN comparison is false)."""
        self.outcomes.append(Outcome(label, bool(ok), detail, validity))
        return bool(ok)

    def below(self, label: str, value: float, bound: float, validity: bool = False) -> bool:
        """Claim ``value < bound``."""
        return self.that(label, value < bound, f"{value:.6g} < {bound:.6g}", validity)

    def above(self, label: str, value: float, bound: float, validity: bool = False) -> bool:
        """Claim ``value > bound``."""
        return self.that(label, value > bound, f"{value:.6g} > {bound:.6g}", validity)

    def within(
        self, label: str, value: float, target: float, tol: float, validity: bool = False
    ) -> bool:
        """Claim ``abs(value - target) < tol``."""
        ok = math.isfinite(value) and abs(value - target) < tol
        return self.that(label, ok, f"|{value:.6g} - {target:.6g}| < {tol:.6g}", validity)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def report(self) -> str:
        return "\n".join(
            f"  [{'ok' if o.ok else 'FAIL'}] {o.label}: {o.detail}" for o in self.outcomes
        )


@dataclass(frozen=True)
class Control:
    """A negative control: the experiment with its method broken, under which the claims must fail.

    Attributes:
        what: how it is broken, for docs/results/claims.md.
        overrides: config fields that break it (e.g. training cut to one step).
        transform: applied to every run's metrics, e.g. :func:`swap`, to replace the method's
            numbers by its baseline's.
        patch: ``patch(monkeypatch)`` breaks the library for the run (e.g. a gradient off by
            0.1%), for claims that hold for any weights.
    """

    what: str
    overrides: dict[str, Any] = field(default_factory=dict)
    transform: Callable[[Metrics], Metrics] | None = None
    patch: Callable[[Any], None] | None = None  # patch(monkeypatch): break the library itself


def scale_gradient(x: Any, factor: float) -> Any:
    """``x`` with its value unchanged and its gradient multiplied by ``factor``."""
    return x + (factor - 1.0) * (x - x.detach())


def swap(**pairs: str) -> Callable[[Metrics], Metrics]:
    """A metrics transform: each ``method/...`` metric takes the value of ``baseline/...``.

    Keyword names are methods with ``_`` for ``-`` (``mle_gfn="ddpm"``).
    """

    def transform(metrics: Metrics) -> dict[str, float]:
        out = dict(metrics)
        for method, baseline in pairs.items():
            method = method.replace("_", "-")
            for key, value in metrics.items():
                head, _, rest = key.partition("/")
                if head == baseline and f"{method}/{rest}" in metrics:
                    out[f"{method}/{rest}"] = value
        return out

    return transform


def untrained(*fields: str, **extra: Any) -> Control:
    """Training cut to one step (configs refuse zero) in each named step-count field."""
    overrides = {f: 1 for f in fields} | extra
    settings = ", ".join(f"{k}={v}" for k, v in overrides.items())
    return Control(f"training cut to one step ({settings})", overrides)


@dataclass(frozen=True)
class Claim:
    """One experiment's claims, where they are stated, and the controls that must break them."""

    section: str
    check: Callable[[Claims], None]
    controls: tuple[Control, ...]
