import os
import sys
from pathlib import Path

import matplotlib
import pytest
import torch
from hypothesis import settings

matplotlib.use("Agg")
# The engines' own default: one PyTorch thread per process (on tiny matrices, threads cost
# more than they give, and on a busy machine they wait for each other by the millisecond).
torch.set_num_threads(1)
# the tutorial's transcription lives beside the tests
sys.path.insert(0, str(Path(__file__).parent))

# Property tests draw the same examples on every run ("derandomize"), so a newcomer's
# `make test` passes or fails as CI's did. The "random" profile draws from
# --hypothesis-seed instead: tests/test_fuzz_seeds.py (slow) runs the fuzz tests under
# several seeds with it, so a "bad" generator that can draw a valid value is caught there.
settings.register_profile("default", derandomize=True, database=None)
settings.register_profile("random", derandomize=False, database=None)
settings.load_profile(os.environ.get("FORGETLAB_HYPOTHESIS_PROFILE", "default"))


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
