"""Settings shared by the test suite and the doctests of src/ctflow."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

# Two threads ran 14x slower under load on the 2-core CI machines.
torch.set_num_threads(1)


def pytest_collection_finish(session):
    # torch imports torch._dynamo (~1.2 s) the first time a functional transform or an optimiser
    # runs; pay it once here, so no docstring example's duration carries it.
    import torch._dynamo  # noqa: F401
