"""One module per paper: a config dataclass and ``run(config) -> Results``, registered by name."""

# importing an experiment module registers it
from . import cnf_2d, flow_matching_2d, flow_matching_digits, steady_state_heat, steady_state_light  # noqa: E402, F401, I001
from . import meanflow_2d, meanflow_digits, discrete_fm_text, conditional_2d  # noqa: E402, F401, I001
from . import cpflow_2d, cpflow_ot, cpflow_tabular, cpflow_vae  # noqa: E402, F401, I001
from . import ncl_euler, ncl_hodge, ncl_ot  # noqa: E402, F401, I001
from . import voronoi_discrete2d, voronoi_realdiscrete, voronoi_mixture  # noqa: E402, F401, I001
from . import sdebnn_stl, sdebnn_digits, sdebnn_regression  # noqa: E402, F401, I001
from . import gfn_hypergrid, gfn_unify_2d  # noqa: E402, F401, I001
from .. import harness
from ..harness import SIZES, Experiment, ExperimentConfig, Results, RunContext, register  # noqa: F401
from ..harness.registry import experiment_names, get_experiment, make_config

# the harness's contract, and the lookups over the experiments registered above and below
__all__ = [n for n in harness.__all__ if not n.startswith("check_")]
__all__ += ["get_experiment", "experiment_names", "make_config"]
from . import ppd_sphere, ppd_earth, ppd_highdim  # noqa: E402, F401, I001
from . import smac_entropy, smac_bandit, smac_control  # noqa: E402, F401, I001
from . import compress_rd, compress_framerate, compress_mocap  # noqa: E402, F401, I001
