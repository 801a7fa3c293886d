"""Open quantum systems: Lindblad superoperators and differentiable steady states.

Vectorisation stacks columns (QuTiP's convention): ``vec(A rho B) = kron(B.T, A) vec(rho)``.
"""

from __future__ import annotations

from .design import (
    central_difference_gradient,
    densest_grid_size,
    first_index_reaching,
    grid_search_max,
    projected_adam_ascent,
    relative_error,
)
from .heat_transfer import HeatTransferVSystem
from .light_harvesting import LightHarvestingVSystem
from .liouvillian import lindblad_rhs, liouvillian, unvec, vec
from .random_systems import random_lindbladian
from .sparse import DENSE_MAX_LEVELS, sparse_liouvillian, steady_state_of
from .steady_state import METHODS, steady_state, steady_state_jacobian

__all__ = [
    "DENSE_MAX_LEVELS",
    "HeatTransferVSystem",
    "LightHarvestingVSystem",
    "METHODS",
    "central_difference_gradient",
    "densest_grid_size",
    "first_index_reaching",
    "grid_search_max",
    "lindblad_rhs",
    "liouvillian",
    "projected_adam_ascent",
    "random_lindbladian",
    "relative_error",
    "sparse_liouvillian",
    "steady_state",
    "steady_state_of",
    "steady_state_jacobian",
    "unvec",
    "vec",
]
