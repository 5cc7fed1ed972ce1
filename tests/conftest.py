import sys
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
# The engines' own default: one PyTorch thread per process (on tiny matrices, threads cost
# more than they give, and on a busy machine they wait for each other by the millisecond).
torch.set_num_threads(1)
# the tutorial's transcription lives beside the tests
sys.path.insert(0, str(Path(__file__).parent))
