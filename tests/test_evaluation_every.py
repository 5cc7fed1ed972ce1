"""``[evaluation] every`` saves the work: the continual trainer scores only the epochs a results table keeps.

Scoring changes no state, so a recorded epoch's scores, the final parameters and
predictions, and the stream metrics are the same, bit for bit, whether every epoch is
scored or only the recorded ones.
"""

import numpy as np
import pandas as pd
import pytest
from test_engine_torch import poisoned_stream

from forgetlab import InvalidParameterError
from forgetlab.engines.continual import model_spec, train_continual
from forgetlab.results import STREAM_METRICS, recorded_epochs, tidy_tables
from forgetlab.schedules import Interspersed, Sequential
from forgetlab.strategies import EWC, Cumulative, Naive, Replay
from forgetlab.tasks import split_digits

SEEDS = [0, 1, 2]
#: Phases of 3, 5 and 4 epochs: every=2, 3 and 4 each skip epochs inside phases and keep different ones.
SCHEDULE = Sequential(epochs_per_task=(3, 5, 4))


def train(strategy, every, *, schedule=SCHEDULE, stream=None, **options):
    stream = stream or split_digits("class", n_tasks=3)
    spec = model_spec(stream, (16,))
    return train_continual(spec, stream, schedule, strategy, SEEDS, batch_size=64, record_every=every, **options)


@pytest.mark.parametrize("strategy", [Naive(), EWC(), Replay(buffer_size=40)], ids=lambda s: s.name)
@pytest.mark.parametrize("every", [2, 3, 4, 100])
def test_recorded_epochs_are_bit_identical_and_the_others_are_not_scored(strategy, every):
    everything = train(strategy, 1)
    fewer = train(strategy, every)
    kept = recorded_epochs(everything[0].trained, every)
    assert kept.tolist() == sorted({*range(every - 1, 12, every), 2, 7, 11})  # every k-th, each phase's end
    for full, lean in zip(everything, fewer, strict=True):
        np.testing.assert_array_equal(lean.scores[kept], full.scores[kept])
        assert np.isfinite(lean.scores[kept]).all()
        skipped = np.setdiff1d(np.arange(12), kept)
        assert np.isnan(lean.scores[skipped]).all(), "epochs not recorded are not scored"
        np.testing.assert_array_equal(lean.initial_scores, full.initial_scores)
        np.testing.assert_array_equal(lean.params, full.params)
        for ours, theirs in zip(lean.predictions, full.predictions, strict=True):
            np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(lean.n_iter, full.n_iter)
        assert lean.phase_ends.tolist() == full.phase_ends.tolist() == [2, 7, 11]


def tables(results, strategies, every):
    stream = split_digits("class", n_tasks=3)
    return tidy_tables(
        results,
        run_ids=range(len(results)),
        strategies=strategies,
        stream=stream,
        labels={"variant": "", "schedule": "sequential", "engine": "torch"},
        record_every=every,
        cumulative="cumulative",
    )


@pytest.mark.parametrize("every", [2, 5])
def test_the_tables_and_stream_metrics_equal_those_of_scoring_every_epoch(every):
    strategies = [Naive(), Cumulative()]
    labels = [s.name for s in strategies for _ in SEEDS]
    everything = [r for s in strategies for r in train(s, 1)]
    fewer = [r for s in strategies for r in train(s, every)]
    scores, predictions = tables(fewer, labels, every)
    expected_scores, expected_predictions = tables(everything, labels, every)
    pd.testing.assert_frame_equal(scores, expected_scores)
    pd.testing.assert_frame_equal(predictions, expected_predictions)
    stream_rows = scores[scores["task"] == "all"]
    assert set(stream_rows["metric"]) == set(STREAM_METRICS)
    assert stream_rows["value"].notna().all()
    assert scores["value"].notna().all(), "every kept row was scored"


def test_a_diverging_run_is_flagged_and_frozen_alike():
    stream = poisoned_stream()
    schedule = Interspersed(k=10, n_epochs=6)
    spec = model_spec(stream, (100, 100))
    seeds = list(range(8))
    everything = train_continual(spec, stream, schedule, Naive(), seeds, batch_size=5, optimizer="sgd")
    fewer = train_continual(spec, stream, schedule, Naive(), seeds, batch_size=5, optimizer="sgd", record_every=4)
    assert any(r.diverged for r in everything) and not all(r.diverged for r in everything)
    kept = recorded_epochs(everything[0].trained, 4)
    assert kept.tolist() == [3, 5]
    for full, lean in zip(everything, fewer, strict=True):
        assert lean.diverged == full.diverged
        np.testing.assert_array_equal(lean.scores[kept], full.scores[kept])
        np.testing.assert_array_equal(lean.params, full.params)


@pytest.mark.parametrize("every", [0, -3, 1.5, "2", True, None])
def test_a_bad_record_every_names_the_field(every):
    with pytest.raises(InvalidParameterError, match=r"^The 'record_every' parameter of train_continual must be"):
        train(Naive(), every)
