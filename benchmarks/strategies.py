"""Every strategy on split digits (three scenarios) and on four seasons: final scores and runs per second.

    .venv/bin/python benchmarks/strategies.py            # 16 seeds (the one to quote)
    .venv/bin/python benchmarks/strategies.py --quick    # 3 seeds, fewer epochs
    .venv/bin/python benchmarks/strategies.py --flops    # multiply-adds of a step over naive's
    .venv/bin/python benchmarks/strategies.py --only derpp --streams class task   # a subset
    .venv/bin/python benchmarks/strategies.py --engine compiled   # the strategies the compiled engine trains

Split digits: scikit-learn's 8x8 digits as 5 tasks of 2 classes, an MLP 64-100-10 (ReLU),
Adam (learning rate 1e-3, minibatches of 128), 30 epochs per task in order, the pattern of
van de Ven & Tolias (2019, "Three scenarios for continual learning") on split MNIST.
Rotated digits (five angles, a ten-class head per task): a task-incremental stream on
which fine-tuning forgets more than on split digits.
Split MNIST-1D (Greydanus 2020; :func:`~forgetlab.tasks.split_mnist1d`, the paper's dataset
of 4,000 training signals): 5 tasks of 2 classes, class-incremental, an MLP 40-100-100-10
(ReLU), Adam (1e-3, minibatches of 32), 30 epochs per task.
Seasons: winter, spring, summer, autumn in order, an MLP 1-100-100-1, Adam (1e-2,
minibatches of 32), 100 epochs per season; R² instead of accuracy.

For each strategy: the final average score over tasks (ACC, mean and standard deviation
over seeds), backward transfer (BWT) and forgetting (not for joint training, which has a
single phase); and, in this process with one PyTorch thread, runs per second with all
seeds as one batch (the best of ``--repeats`` timings) and with one seed alone, and the
batch's best time relative to naive fine-tuning's best, naive timed alternately with it.
Every strategy, naive included, trains on the batched torch trainer here; ``--engine
compiled`` times the strategies the compiled engine trains (naive, joint, cumulative,
replay, DER, DER++), one run after another, as ``engine="auto"`` does.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from forgetlab.engines.compiled import ensure_compiled
from forgetlab.engines.compiled_continual import train_run
from forgetlab.engines.continual import model_spec, train_continual
from forgetlab.errors import InvalidParameterError
from forgetlab.metrics import average_score, backward_transfer, forgetting, score_matrix
from forgetlab.numerics.vae import VAESpec
from forgetlab.schedules import Sequential
from forgetlab.strategies import (
    AGEM,
    DER,
    DERPP,
    ERACE,
    EWC,
    MAS,
    SI,
    Cumulative,
    GDumb,
    GenerativeReplay,
    Joint,
    LwF,
    Naive,
    OnlineEWC,
    Replay,
    Strategy,
)
from forgetlab.tasks import Stream, rotated_digits, seasons, split_digits, split_mnist1d

STRATEGIES: list[Strategy] = [
    Naive(),
    EWC(),
    OnlineEWC(),
    SI(),
    LwF(),
    AGEM(),
    Replay(buffer_size=200),
    Replay(buffer_size=200, buffer="class_balanced"),
    MAS(),
    DER(buffer_size=200),
    DERPP(buffer_size=200),
    DERPP(buffer_size=200, draws="shared"),
    ERACE(buffer_size=200),
    GDumb(memory_size=200),
    GenerativeReplay(),
    Cumulative(),
    Joint(),
]


DIGITS = {"learning_rate": 1e-3, "batch_size": 128}
#: The streams, by name: (title, stream function, hidden layers, epochs per task, optimiser settings).
STREAMS = {
    "class": ("split digits, class-incremental, accuracy", lambda: split_digits("class"), (100,), 30, DIGITS),
    "task": ("split digits, task-incremental, accuracy", lambda: split_digits("task"), (100,), 30, DIGITS),
    "domain": ("split digits, domain-incremental, accuracy", lambda: split_digits("domain"), (100,), 30, DIGITS),
    "rotated": (
        "rotated digits (0, 45, 90, 135, 180 degrees), task-incremental, accuracy",
        lambda: rotated_digits(scenario="task"),
        (100,),
        30,
        DIGITS,
    ),
    "mnist1d": (
        "split MNIST-1D, class-incremental, accuracy",
        lambda: split_mnist1d("class"),
        (100, 100),
        30,
        {"learning_rate": 1e-3, "batch_size": 32},
    ),
    "seasons": (
        "seasons winter-spring-summer-autumn, R²",
        lambda: seasons(["winter", "spring", "summer", "autumn"]),
        (100, 100),
        100,
        {"learning_rate": 1e-2, "batch_size": 32},
    ),
}


def label(strategy: Strategy) -> str:
    """A short name: the strategy's, with the buffer for replay and the draws for DER++."""
    if type(strategy) is Replay:
        return f"replay ({strategy.buffer})"
    return f"derpp ({strategy.draws} draws)" if type(strategy) is DERPP else strategy.name


def measure(
    stream: Stream,
    hidden: tuple[int, ...],
    epochs: int,
    seeds: list[int],
    repeats: int,
    only: list[str],
    engine: str = "torch",
    **options,
) -> None:
    """Print one row per strategy that can run on ``stream``: scores over ``seeds``, and speed.

    Speed: all seeds as one batch (the best of ``repeats`` timings), then seed 0 alone
    (runs per second), and the batch's best time over naive fine-tuning's best time in
    ``repeats`` timings taken alternately with the strategy's (naive just before each), so
    that the two are measured warm and in the same spell of the machine: timed once, and
    first in the process, naive took up to 1.8 times its best time. ``engine="compiled"``:
    the compiled engine's continual trainer, one run after another, for the strategies it
    trains (:attr:`~forgetlab.strategies.base.Strategy.index_only`); the others are left out.
    """
    spec = model_spec(stream, hidden)
    schedule = Sequential(epochs_per_task=(epochs,) * len(stream))
    print(
        f"{'strategy':<24} {'ACC':>15} {'BWT':>8} {'forgetting':>10} "
        f"{f'runs/s ({len(seeds)})':>12} {'runs/s (1)':>10} {'vs naive':>8}"
    )

    def timed(strategy: Strategy, runs: list[int]) -> tuple[list, float]:
        start = time.perf_counter()
        if engine == "compiled":
            results = [train_run(spec, stream, schedule, strategy, seed, **options) for seed in runs]
        else:
            results = train_continual(spec, stream, schedule, strategy, runs, **options)
        return results, time.perf_counter() - start

    timed(Naive(), seeds)  # warm-up: the first batch of a process pays for allocations and kernel choices
    for strategy in STRATEGIES:
        if only and not any(label(strategy).startswith(name) for name in only):
            continue
        if engine == "compiled" and not strategy.index_only:
            continue
        try:
            strategy.validate(stream)
        except InvalidParameterError:  # e.g. a class-balanced memory, ER-ACE or GDumb on a regression stream
            continue
        best = naive = np.inf
        for _ in range(repeats):
            naive = min(naive, timed(Naive(), seeds)[1])
            results, seconds = timed(strategy, seeds)
            best = min(best, seconds)
        alone = timed(strategy, seeds[:1])[1]
        if len(results[0].phase_ends) == len(stream):
            matrices = np.stack([score_matrix(r.scores, r.phase_ends) for r in results])
            acc, bwt, forgot = average_score(matrices), backward_transfer(matrices), forgetting(matrices)
        else:  # joint: one phase, no matrix; ACC from the final scores
            acc, bwt, forgot = np.array([r.scores[-1].mean() for r in results]), np.nan, np.nan
        print(
            f"{label(strategy):<24} {np.mean(acc):>7.3f} ± {np.std(acc):.3f} {np.mean(bwt):>8.3f}"
            f" {np.mean(forgot):>10.3f} {len(seeds) / best:>12.2f} {1 / alone:>10.2f} {best / naive:>8.2f}",
            flush=True,
        )


def multiply_adds(shapes: list[tuple[int, int]], rows: int, passes: int = 3) -> int:
    """Multiply-adds of ``passes`` products through layers ``shapes`` (fan_in, fan_out) on ``rows`` rows.

    Three passes are a training step (the forward pass, the weights' gradient, the error
    sent back); one is a forward pass.
    """
    return passes * rows * sum(fan_in * fan_out for fan_in, fan_out in shapes)


def step_costs(stream: Stream, hidden: tuple[int, ...], rows: int) -> dict[str, float]:
    """Multiply-adds of one step of one run, over naive fine-tuning's, for DER++ and generative replay (defaults).

    DER++: the minibatch and two memory draws of its size (one, shared by its two terms,
    with ``draws="shared"``), one training pass.
    Generative replay: the learner on the minibatch and on as many generated inputs, the
    teacher's forward pass on those, the previous generator's decoder, and the VAE trained
    on the minibatch and the generated inputs.
    """
    spec = model_spec(stream, hidden)
    learner = list(zip(spec.layer_units[:-1], spec.layer_units[1:], strict=True))
    naive = multiply_adds(learner, rows)
    replay = GenerativeReplay()
    vae = VAESpec(
        n_inputs=spec.layer_units[0], hidden=replay.hidden_layer_sizes, latent=replay.latent_size, bounded=True
    )
    decoder = list(vae.shapes[vae.n_encoder_layers :])
    generative = (
        2 * naive + multiply_adds(learner, rows, 1) + multiply_adds(decoder, rows, 1)
        + multiply_adds(list(vae.shapes), 2 * rows)
    )  # fmt: skip
    return {
        "derpp (separate draws)": multiply_adds(learner, 3 * rows) / naive,
        "derpp (shared draws)": multiply_adds(learner, 2 * rows) / naive,
        "generative_replay": generative / naive,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, a third of the epochs")
    parser.add_argument("--repeats", type=int, default=2, help="timings of each batch, the best kept (default 2)")
    parser.add_argument("--flops", action="store_true", help="only the multiply-adds of a step over naive's")
    parser.add_argument(
        "--engine", choices=("torch", "compiled"), default="torch", help="the trainer (default: the batched torch one)"
    )
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="the strategies whose label starts so")
    parser.add_argument(
        "--streams", nargs="+", default=list(STREAMS), choices=list(STREAMS), help="streams to measure (default: all)"
    )
    args = parser.parse_args()
    if args.flops:
        for name, stream, hidden, rows in (
            ("split digits, class-IL", split_digits("class"), (100,), 128),
            ("split digits, domain-IL", split_digits("domain"), (100,), 128),
            ("split MNIST-1D, class-IL", split_mnist1d("class"), (100, 100), 32),
        ):
            costs = step_costs(stream, hidden, rows)
            print(
                f"{name}: multiply-adds per step over naive's: " + ", ".join(f"{k} {v:.2f}x" for k, v in costs.items())
            )
        return
    torch.set_num_threads(1)
    if args.engine == "compiled":
        ensure_compiled("float32", "continual")
    seeds = list(range(3 if args.quick else 16))
    scale = 3 if args.quick else 1
    for name in args.streams:
        title, make, hidden, epochs, options = STREAMS[name]
        print(f"\n{title}, {len(seeds)} seeds")
        measure(make(), hidden, epochs // scale, seeds, args.repeats, args.only, args.engine, **options)


if __name__ == "__main__":
    main()
