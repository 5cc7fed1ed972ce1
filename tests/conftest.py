import sys
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
# The engines' own default: one PyTorch thread per process (on tiny matrices, threads cost
# more than they give, and on a busy machine they wait for each other by the millisecond).
torch.set_num_threads(1)
# the tutorial's transcription lives beside the tests
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def sweep():
    """The small sweep of tests/sweep_cases.py (15 tiny runs on the scikit-learn engine)."""
    from sweep_cases import CONFIG

    from forgetlab.config import parse_config

    return parse_config(CONFIG)


@pytest.fixture(scope="session")
def uninterrupted(sweep):
    """The small sweep's results, trained in this process in one go."""
    from forgetlab.api import run_sweep

    return run_sweep(sweep, jobs=1, progress=False)
