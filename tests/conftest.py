import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# Two threads ran 14x slower under load on the 2-core CI machines.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared")
