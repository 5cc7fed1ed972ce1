"""The fuzz tests under several random hypothesis seeds (slow).

The fast suite draws the same examples every run (tests/conftest.py's default profile);
here the config, array and model-settings fuzzers draw afresh under three seeds, so a "bad" generator that
can produce a valid value fails in CI's slow suite, never by chance in `make test`.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
FUZZ_TESTS = [
    "test_reliability.py::test_a_thousand_malformed_configs_each_end_in_one_line_naming_the_field",
    "test_reliability.py::test_the_cli_answers_a_malformed_config_with_one_line_and_exit_2_and_writes_nothing",
    "test_streams.py::test_a_thousand_malformed_arrays_each_end_in_one_line_naming_the_array",
    "test_config.py",
    "test_models.py",
]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2024, 31337])
def test_the_fuzz_tests_pass_under_other_hypothesis_seeds(seed):
    env = {**os.environ, "FORGETLAB_HYPOTHESIS_PROFILE": "random"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--hypothesis-seed={seed}"]
    command += [str(TESTS / test) for test in FUZZ_TESTS]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=TESTS.parent)
    assert done.returncode == 0, done.stdout[-4000:]
