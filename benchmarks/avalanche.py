"""forgetlab against Avalanche on one protocol, side by side: training time per run and final accuracy.

Avalanche is not a dependency of forgetlab. Put it in a scratch environment outside the
repository (x86_64, Python 3.11; about 6 GB, most of it a CUDA build of PyTorch that runs
on the CPU here):

    python3 -m venv /tmp/avl
    /tmp/avl/bin/pip install torch==2.14.1 torchvision==0.29.1 avalanche-lib==0.6.0

then, from the repository (each side runs in its own subprocess, so forgetlab keeps its
own environment and Avalanche its own):

    .venv/bin/python benchmarks/avalanche.py            # 50 epochs per task, 1 and 16 seeds
    .venv/bin/python benchmarks/avalanche.py --quick    # 5 epochs per task, 1 and 4 seeds
    .venv/bin/python benchmarks/avalanche.py --profile  # where forgetlab's time goes per step

``--avalanche-python`` (or the environment variable ``AVALANCHE_PYTHON``) names the
scratch interpreter, /tmp/avl/bin/python by default; without an importable
``avalanche``, only forgetlab's half runs.

The protocol (issue 14): split digits, class-incremental (forgetlab's
:func:`~forgetlab.tasks.split_digits`, five tasks of two digits, 75/25 train/test split
with ``split_seed=42``; Avalanche gets the very same arrays through ``nc_benchmark`` with
the class order 0..9, five experiences, no task labels); an MLP 64-100-100-10 (ReLU),
initialised as scikit-learn does (uniform, Glorot's bound) on both sides, no weight
decay; Adam, learning rate 1e-3, minibatches of 32, 50 epochs per task; the loss is the
cross-entropy over the classes seen so far (forgetlab's class-incremental training mask;
Avalanche gets the same mask through its criterion and a plugin); final average accuracy
over the five tasks' test sets (all ten outputs). Strategies:

- naive fine-tuning;
- EWC with one Fisher and anchor per task and the same penalty
  :math:`\\frac{\\lambda}{2}\\sum F(\\theta - \\theta^*)^2`, :math:`\\lambda = 1000`
  (forgetlab's default; Avalanche writes it without the 1/2, so it gets
  ``ewc_lambda=500``). The Fisher estimates differ: forgetlab's is the expected Fisher of
  each sample, Avalanche's the squared minibatch gradient, averaged over minibatches;
- replay with a memory of 200 samples filled by reservoir sampling, every minibatch of 32
  extended with 32 memory samples (forgetlab's ``Replay(buffer_size=200)``, the memory
  offered every minibatch; Avalanche's ``ReplayPlugin`` with a ``ReservoirSamplingBuffer``,
  the memory updated at the end of each experience).

One thread each (``torch.set_num_threads(1)``, OMP/MKL threads 1), Avalanche's data
loaders without workers, no loggers and no evaluation during training; forgetlab scores
the tasks only at the end of each task (``record_every`` = the epochs per task, as
``[evaluation] every`` does; before 2026-12-07 it scored them after every epoch, about a
fifth of its time). For ``N`` seeds, forgetlab trains as ``engine="auto"`` would: naive
fine-tuning and replay on the compiled engine, one run after another
(:func:`~forgetlab.engines.compiled_continual.train_run`), EWC as one batch of
``N`` runs on the torch trainer (:func:`~forgetlab.engines.continual.train_continual`);
``--engine torch`` trains all three on the torch trainer. Avalanche trains the runs one
after another. Each side first trains one
untimed warm-up run of one epoch per task, then times its training only (not the imports,
the data set, or the final scoring); a row's time per run is that time over ``N``, the
best of ``--repeats`` (Avalanche and forgetlab measured alternately). The ACC columns are
mean ± standard deviation over seeds: the protocol is the same if they agree in
distribution (EWC's Fisher aside).

``--profile`` runs forgetlab only, in this process, under cProfile, and splits the time
of a minibatch step into forward, loss, backward, Adam, the strategy's hooks, indexing and
the rest (Python overhead), scaled to the step's unprofiled time, beside the floor: the
MLP's FLOPs per step at this core's measured matrix-product rate.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: The MLP's hidden layers, the protocol's optimiser settings and the strategies' settings.
HIDDEN = (100, 100)
LEARNING_RATE = 1e-3
BATCH_SIZE = 32
EWC_LAMBDA = 1000.0
MEMORY = 200
STRATEGIES = ("naive", "ewc", "replay")
N_TASKS = 5
DEFAULT_AVALANCHE_PYTHON = "/tmp/avl/bin/python"


# --------------------------------------------------------------------------- data


def write_data(path: Path) -> None:
    """Save forgetlab's class-incremental split digits stream as arrays for the Avalanche worker.

    Parameters
    ----------
    path : Path
        The ``.npz`` file: ``x_train``, ``y_train``, ``x_test``, ``y_test`` (every task's
        sets, concatenated in task order, float32 inputs and int64 labels).
    """
    from forgetlab.tasks import split_digits

    stream = split_digits("class")
    np.savez(
        path,
        x_train=np.concatenate([t.x_train for t in stream.tasks]).astype(np.float32),
        y_train=np.concatenate([t.y_train for t in stream.tasks]).astype(np.int64),
        x_test=np.concatenate([t.x_test for t in stream.tasks]).astype(np.float32),
        y_test=np.concatenate([t.y_test for t in stream.tasks]).astype(np.int64),
    )


def task_accuracies(predicted: np.ndarray, labels: np.ndarray) -> list[float]:
    """Accuracy on each task's test samples (task ``t`` holds the digits ``2t`` and ``2t + 1``).

    Parameters
    ----------
    predicted, labels : ndarray of shape (n,)
        Predicted and true digits of the test samples.

    Examples
    --------
    >>> task_accuracies(np.array([0, 1, 3, 3, 4, 5, 6, 7, 8, 9]), np.arange(10))
    [1.0, 0.5, 1.0, 1.0, 1.0]
    """
    return [float(np.mean(predicted[labels // 2 == t] == labels[labels // 2 == t])) for t in range(N_TASKS)]


# --------------------------------------------------------------------------- forgetlab


def forgetlab_strategy(name: str) -> object:
    """forgetlab's strategy of the protocol by name (``naive``, ``ewc`` or ``replay``)."""
    from forgetlab.strategies import EWC, Naive, Replay

    return {"naive": Naive(), "ewc": EWC(ewc_lambda=EWC_LAMBDA), "replay": Replay(buffer_size=MEMORY)}[name]


def forgetlab_options(epochs: int) -> dict:
    """The optimiser's settings, and scoring at the end of each task only (Avalanche scores none)."""
    return {"learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE, "record_every": epochs}


def forgetlab_setup(epochs: int) -> tuple:
    """The stream, the model and the schedule of the protocol in forgetlab."""
    from forgetlab.engines.continual import model_spec
    from forgetlab.schedules import Sequential
    from forgetlab.tasks import split_digits

    stream = split_digits("class")
    return stream, model_spec(stream, HIDDEN, alpha=0.0), Sequential(epochs_per_task=(epochs,) * N_TASKS)


def forgetlab_worker(strategy: str, seeds: list[int], epochs: int, engine: str = "auto") -> dict:
    """Train ``seeds`` in forgetlab; time it and score the final models.

    Parameters
    ----------
    strategy : str
        ``naive``, ``ewc`` or ``replay``.
    seeds : list of int
        One run per seed.
    epochs : int
        Epochs per task.
    engine : {"auto", "torch"}
        ``auto`` as ``engine="auto"`` chooses: the compiled engine's continual trainer for
        naive fine-tuning and replay (one run after another, compiled loops, no PyTorch),
        the torch trainer (all seeds as one batch) for EWC; ``torch``: always the torch trainer.

    Returns
    -------
    dict
        ``seconds`` (training, all runs), ``acc`` (final average accuracy per run) and ``engine``.
    """
    stream, spec, schedule = forgetlab_setup(epochs)
    _, _, warm_up = forgetlab_setup(1)
    options = forgetlab_options(epochs)
    chosen = forgetlab_strategy(strategy)
    if engine == "auto" and chosen.index_only:
        from forgetlab.engines.compiled import ensure_compiled
        from forgetlab.engines.compiled_continual import train_run

        def train(plan: object, runs: list[int]) -> list:
            return [train_run(spec, stream, plan, chosen, seed, **options) for seed in runs]

        ensure_compiled("float32", "continual")
        engine = "compiled"
    else:
        import torch

        from forgetlab.engines.continual import train_continual

        def train(plan: object, runs: list[int]) -> list:
            return train_continual(spec, stream, plan, chosen, runs, **options)

        torch.set_num_threads(1)
        engine = "torch"
    train(warm_up, seeds[:1])
    start = time.perf_counter()
    results = train(schedule, seeds)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "acc": [float(r.scores[-1].mean()) for r in results], "engine": engine}


# --------------------------------------------------------------------------- Avalanche


def avalanche_worker(data: Path, strategy: str, seeds: list[int], epochs: int) -> dict:
    """Train ``seeds`` one after another in Avalanche; time the training and score the final models.

    Parameters
    ----------
    data : Path
        The arrays of :func:`write_data`.
    strategy : str
        ``naive``, ``ewc`` or ``replay``.
    seeds : list of int
        One run per seed, in turn.
    epochs : int
        Epochs per task.

    Returns
    -------
    dict
        As :func:`forgetlab_worker`'s.
    """
    import warnings

    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    here = Path(__file__).resolve().parent  # this file is avalanche.py: not the package
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.modules.pop("avalanche", None)
    from avalanche.benchmarks import nc_benchmark
    from avalanche.training.determinism.rng_manager import RNGManager
    from avalanche.training.plugins import EvaluationPlugin, ReplayPlugin, SupervisedPlugin
    from avalanche.training.storage_policy import ReservoirSamplingBuffer
    from avalanche.training.supervised import EWC, Naive

    arrays = np.load(data)
    x_train, y_train = torch.from_numpy(arrays["x_train"]), torch.from_numpy(arrays["y_train"])
    x_test, y_test = torch.from_numpy(arrays["x_test"]), arrays["y_test"]
    benchmark = nc_benchmark(
        TensorDataset(x_train, y_train),
        TensorDataset(x_test, torch.from_numpy(y_test)),
        n_experiences=N_TASKS,
        task_labels=False,
        fixed_class_order=list(range(10)),
    )

    class SeenClasses(SupervisedPlugin):
        """The class-incremental training mask: every class of the experiences trained so far."""

        def __init__(self) -> None:
            super().__init__()
            self.mask = torch.zeros(10, dtype=torch.bool)

        def before_training_exp(self, strategy: object, **kwargs: object) -> None:
            self.mask[list(strategy.experience.classes_in_this_experience)] = True

        def __call__(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return nn.functional.cross_entropy(output.masked_fill(~self.mask, float("-inf")), y)

    def model() -> nn.Module:
        layers: list[nn.Module] = []
        units = (64, *HIDDEN, 10)
        for fan_in, fan_out in itertools.pairwise(units):
            linear = nn.Linear(fan_in, fan_out)
            bound = (6.0 / (fan_in + fan_out)) ** 0.5  # scikit-learn's (and forgetlab's) initialisation
            nn.init.uniform_(linear.weight, -bound, bound)
            nn.init.uniform_(linear.bias, -bound, bound)
            layers += [linear, nn.ReLU()]
        return nn.Sequential(*layers[:-1])

    def train(seed: int, n_epochs: int) -> nn.Module:
        RNGManager.set_random_seeds(seed)
        net, seen = model(), SeenClasses()
        common = {
            "model": net,
            "optimizer": torch.optim.Adam(net.parameters(), lr=LEARNING_RATE),
            "criterion": seen,
            "train_mb_size": BATCH_SIZE,
            "train_epochs": n_epochs,
            "eval_mb_size": 1024,
            "device": "cpu",
            "evaluator": EvaluationPlugin(loggers=[]),
        }
        if strategy == "naive":
            learner = Naive(plugins=[seen], **common)
        elif strategy == "ewc":
            learner = EWC(ewc_lambda=EWC_LAMBDA / 2, plugins=[seen], **common)
        else:
            replay = ReplayPlugin(mem_size=MEMORY, storage_policy=ReservoirSamplingBuffer(MEMORY))
            learner = Naive(plugins=[seen, replay], **common)
        for experience in benchmark.train_stream:
            learner.train(experience)
        return net

    train(seeds[0], 1)  # warm-up, untimed
    seconds, acc = 0.0, []
    for seed in seeds:
        start = time.perf_counter()
        net = train(seed, epochs)
        seconds += time.perf_counter() - start
        with torch.no_grad():
            predicted = net.eval()(x_test).argmax(dim=1).numpy()
        acc.append(float(np.mean(task_accuracies(predicted, y_test))))
    return {"seconds": seconds, "acc": acc}


# --------------------------------------------------------------------------- side by side


def run_worker(
    python: str, side: str, data: Path, strategy: str, n_seeds: int, epochs: int, engine: str = "auto"
) -> dict:
    """Run one side's worker in a subprocess of ``python`` (one thread) and return what it printed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "") if side == "forgetlab" else ""
    command = [python, __file__, "--worker", side, "--data", str(data), "--strategy", strategy]
    command += ["--n-seeds", str(n_seeds), "--epochs", str(epochs), "--engine", engine]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side} worker failed ({strategy}, {n_seeds} seeds):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def has_avalanche(python: str) -> str | None:
    """Avalanche's version if ``python`` can import it, else None."""
    if not Path(python).exists():
        return None
    probe = "import importlib.metadata as m, torch; print(m.version('avalanche-lib'), torch.__version__)"
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def side_by_side(args: argparse.Namespace) -> None:
    """Print one row per strategy and seed count: time per run on each side, their ratio, and ACC."""
    versions = has_avalanche(args.avalanche_python)
    probe = "import importlib.metadata as m, torch; print(m.version('forgetlab'), torch.__version__)"
    ours = subprocess.run([args.forgetlab_python, "-c", probe], capture_output=True, text=True, check=True)
    print(f"forgetlab {ours.stdout.strip()} (torch) in {args.forgetlab_python}")
    if versions is None:
        print(f"avalanche-lib not importable by {args.avalanche_python}: forgetlab only (see the docstring)")
    else:
        print(f"avalanche-lib {versions} (torch) in {args.avalanche_python}")
    print(
        f"split digits class-IL, MLP 64-{'-'.join(map(str, HIDDEN))}-10, Adam {LEARNING_RATE:g}, minibatch "
        f"{BATCH_SIZE}, {args.epochs} epochs per task, one thread each; time = training seconds per run, "
        f"best of {args.repeats}\n"
    )
    header = f"{'strategy (engine)':<18} {'seeds':>5} {'Avalanche s':>11} {'forgetlab s':>11} {'ratio':>6}"
    print(f"{header} {'Avalanche ACC':>15} {'forgetlab ACC':>15}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "split_digits.npz"
        write_data(data)
        for strategy in args.strategies:
            for n_seeds in args.seeds:
                best: dict[str, dict] = {}
                sides = ["avalanche", "forgetlab"] if versions else ["forgetlab"]
                for _ in range(args.repeats):
                    for side in sides:
                        python = args.avalanche_python if side == "avalanche" else args.forgetlab_python
                        out = run_worker(python, side, data, strategy, n_seeds, args.epochs, args.engine)
                        if side not in best or out["seconds"] < best[side]["seconds"]:
                            best[side] = out
                row = f"{strategy + ' (' + best['forgetlab']['engine'] + ')':<18} {n_seeds:>5}"
                per_run = {side: out["seconds"] / n_seeds for side, out in best.items()}
                acc = {side: f"{np.mean(out['acc']):.3f} ± {np.std(out['acc']):.3f}" for side, out in best.items()}
                if versions:
                    ratio = per_run["avalanche"] / per_run["forgetlab"]
                    row += f" {per_run['avalanche']:>11.3f} {per_run['forgetlab']:>11.3f} {ratio:>6.2f}"
                    row += f" {acc['avalanche']:>15} {acc['forgetlab']:>15}"
                else:
                    row += f" {'-':>11} {per_run['forgetlab']:>11.3f} {'-':>6} {'-':>15} {acc['forgetlab']:>15}"
                print(row, flush=True)


# --------------------------------------------------------------------------- profile

#: The parts of a minibatch step: a function ``_step`` calls (module path suffix, name) -> part.
PARTS = {
    ("numerics/mlp.py", "forward"): "forward",
    ("numerics/mlp.py", "output_loss"): "loss",
    ("numerics/mlp.py", "weight_penalty"): "loss",
    ("numerics/mlp.py", "backward"): "backward",
    ("numerics/sgd.py", "update"): "Adam",
    ("strategies/base.py", "gather"): "indexing (gather, mask)",
    ("strategies/base.py", "train_mask"): "indexing (gather, mask)",
}
#: Strategy hooks, counted when ``_step`` calls them.
HOOKS = ("extend_batch", "data_loss", "output_term", "penalty", "edit_gradient", "after_step", "observe")


def matmul_gflops(rows: int, inner: int, cols: int, batch: int = 0, repeat: int = 50) -> float:
    """Measured GFLOP/s of float32 matrix products (batched if ``batch``) on one thread.

    Parameters
    ----------
    rows, inner, cols : int
        The product ``(rows, inner) @ (inner, cols)``.
    batch : int, default 0
        Products per call (``torch.bmm``), or 0 for one ``torch.mm``.
    repeat : int, default 50
        Calls timed; the best of three such rounds is kept.
    """
    import torch

    shape = (batch,) if batch else ()
    a, b = torch.rand(*shape, rows, inner), torch.rand(*shape, inner, cols)
    product = torch.bmm if batch else torch.mm
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            product(a, b)
        best = min(best, (time.perf_counter() - start) / repeat)
    return 2.0 * rows * inner * cols * max(batch, 1) / best / 1e9


def step_flops(units: tuple[int, ...], m: int) -> float:
    """FLOPs of one training step of one run on ``m`` samples: forward, backward and Adam.

    Forward ``2 m sum(in * out)``; backward the weight gradients (as much) and the errors
    of every layer but the first (``2 m sum(in * out)`` over layers 2..L); Adam about 10
    FLOPs per parameter. Activations, softmax and biases are left out.

    Examples
    --------
    >>> step_flops((64, 100, 100, 10), 32)
    3107300.0
    """
    pairs = list(itertools.pairwise(units))
    macs = sum(i * o for i, o in pairs)
    n_params = sum(i * o + o for i, o in pairs)
    return float(2 * m * macs * 2 + 2 * m * sum(i * o for i, o in pairs[1:]) + 10 * n_params)


def split_profile(stats: pstats.Stats) -> tuple[dict[str, float], float, float]:
    """Seconds of each part of a profiled :func:`~forgetlab.engines.continual.train_continual` call.

    The parts of the steps are the functions ``_step`` calls (:data:`PARTS`, the strategy's
    :data:`HOOKS`), each counted for its calls from ``_step`` only, and what is left of
    ``_step``; outside the steps, the scoring (``_evaluate``), the strategy's
    ``end_phase`` and the rest of the trainer.

    Parameters
    ----------
    stats : pstats.Stats
        A profile of one call of ``train_continual``.

    Returns
    -------
    parts : dict of str to float
        Seconds per part, largest first within the steps.
    total, step_total : float
        Seconds of the call and of its steps.
    """
    total = step_total = evaluate = end_phase = 0.0
    inside: dict[str, float] = {}
    for (filename, _, function), (_, _, _, cum, callers) in stats.stats.items():  # type: ignore[attr-defined]
        filename = filename.replace(os.sep, "/")
        if function == "train_continual":
            total = cum
        elif function == "_step" and filename.endswith("engines/continual.py"):
            step_total = cum
        elif function == "_evaluate" and filename.endswith("engines/continual.py"):
            evaluate = cum
        elif function == "end_phase" and "/strategies/" in filename:
            end_phase += cum
        from_step = sum(c[3] for (_, _, caller), c in callers.items() if caller == "_step")
        if not from_step:
            continue
        part = next((p for (suffix, name), p in PARTS.items() if function == name and filename.endswith(suffix)), None)
        if part is None and function in HOOKS and "/strategies/" in filename:
            part = "strategy hooks"
        if part is not None:
            inside[part] = inside.get(part, 0.0) + from_step
    parts = dict(sorted(inside.items(), key=lambda item: -item[1]))
    parts["rest of the step (Python, small tensor ops)"] = step_total - sum(inside.values())
    parts["scoring the tasks (end of each task)"] = evaluate
    parts["end of task (the strategy's end_phase: EWC's Fisher)"] = end_phase
    parts["rest of the trainer (loop, divergence checks, shuffles)"] = total - step_total - evaluate - end_phase
    return parts, total, step_total


def profile(args: argparse.Namespace) -> None:
    """Print where forgetlab's continual trainer spends a minibatch step, per strategy, 1 and N seeds."""
    import torch

    from forgetlab.engines.continual import train_continual

    torch.set_num_threads(1)
    stream, spec, schedule = forgetlab_setup(args.epochs)
    options = forgetlab_options(args.epochs)
    big = matmul_gflops(1024, 1024, 1024, repeat=10)
    print(f"one thread, float32: torch.mm 1024^3 {big:.1f} GFLOP/s", end="")
    for n_runs in sorted(set(args.seeds)):
        rate = matmul_gflops(BATCH_SIZE, 100, 100, batch=n_runs, repeat=2000)
        print(f"; bmm ({n_runs}, 32, 100) @ ({n_runs}, 100, 100) {rate:.1f} GFLOP/s", end="")
    print(f"\n{args.epochs} epochs per task; parts of a step as cProfile splits them, scaled to the unprofiled time\n")
    steps_per_epoch = [-(-len(t.x_train) // BATCH_SIZE) for t in stream.tasks]
    n_steps = args.epochs * sum(steps_per_epoch)
    for strategy in args.strategies:
        for n_seeds in args.seeds:
            seeds = list(range(n_seeds))
            train_continual(spec, stream, forgetlab_setup(1)[2], forgetlab_strategy(strategy), seeds, **options)
            start = time.perf_counter()
            train_continual(spec, stream, schedule, forgetlab_strategy(strategy), seeds, **options)
            seconds = time.perf_counter() - start
            profiler = cProfile.Profile()
            profiler.enable()
            train_continual(spec, stream, schedule, forgetlab_strategy(strategy), seeds, **options)
            profiler.disable()
            parts, total, _ = split_profile(pstats.Stats(profiler))
            scale = seconds / total
            m = BATCH_SIZE * (2 if strategy == "replay" else 1)
            floor = step_flops(spec.layer_units, m) * n_seeds / (big * 1e9)
            per_step = seconds / n_steps
            print(
                f"{strategy}, {n_seeds} seeds: {seconds:.2f} s for {n_steps} steps = {per_step * 1e6:.0f} µs/step"
                f" ({per_step / n_seeds * 1e6:.1f} µs per run-step); floor {floor * 1e6:.1f} µs/step"
                f" ({floor / per_step:.1%} of it)"
            )
            for part, cum in parts.items():
                print(f"    {part:<56} {cum * scale / n_steps * 1e6:>8.1f} µs/step {cum / total:>6.1%}")
            print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 epochs per task, 1 and 4 seeds")
    parser.add_argument("--epochs", type=int, help="epochs per task (default 50, 5 with --quick)")
    parser.add_argument("--seeds", type=lambda s: [int(n) for n in s.split(",")], help="seed counts, e.g. 1,16")
    parser.add_argument("--strategies", type=lambda s: s.split(","), default=list(STRATEGIES), help="naive,ewc,replay")
    parser.add_argument("--repeats", type=int, default=1, help="measurements per row, the best kept")
    parser.add_argument("--profile", action="store_true", help="profile forgetlab's trainer instead")
    parser.add_argument("--avalanche-python", default=os.environ.get("AVALANCHE_PYTHON", DEFAULT_AVALANCHE_PYTHON))
    parser.add_argument("--forgetlab-python", default=sys.executable)
    parser.add_argument(
        "--engine",
        choices=("auto", "torch"),
        default="auto",
        help="forgetlab's trainer: as engine='auto' chooses (compiled for naive and replay) or always torch",
    )
    parser.add_argument("--worker", choices=("forgetlab", "avalanche"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--strategy", choices=STRATEGIES, help=argparse.SUPPRESS)
    parser.add_argument("--n-seeds", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.epochs = args.epochs or (5 if args.quick else 50)
    args.seeds = args.seeds or ([1, 4] if args.quick else [1, 16])
    if args.worker == "forgetlab":
        print(json.dumps(forgetlab_worker(args.strategy, list(range(args.n_seeds)), args.epochs, args.engine)))
    elif args.worker == "avalanche":
        print(json.dumps(avalanche_worker(args.data, args.strategy, list(range(args.n_seeds)), args.epochs)))
    elif args.profile:
        profile(args)
    else:
        side_by_side(args)


if __name__ == "__main__":
    main()
