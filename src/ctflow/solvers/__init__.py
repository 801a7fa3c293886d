"""ODE and SDE solvers, fixed points and roots with implicit gradients, NFE counting."""

from .counting import SolveStats
from .fixed_point import ConvergenceWarning, fixed_point
from .integrals import IntegralDynamics
from .odeint import ADAPTIVE_METHODS, FIXED_STEP_METHODS, METHODS, SolverError, odeint
from .roots import find_root
from .sdeint import sdeint
from .tableaus import FIXED_STEP_TABLEAUS, ButcherTableau

__all__ = [
    "odeint",
    "IntegralDynamics",
    "SolverError",
    "sdeint",
    "fixed_point",
    "find_root",
    "ConvergenceWarning",
    "SolveStats",
    "ButcherTableau",
    "FIXED_STEP_TABLEAUS",
    "FIXED_STEP_METHODS",
    "ADAPTIVE_METHODS",
    "METHODS",
]
