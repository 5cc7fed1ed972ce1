"""Generative replay: a VAE per run replays generated inputs, labelled by the previous model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from forgetlab.numerics.mlp import backward, forward, output_loss
from forgetlab.numerics.sgd import Adam
from forgetlab.numerics.vae import VAESpec, decode, init_vae, vae_loss_and_grad
from forgetlab.strategies.base import POSITIVE, Context, Minibatch, Phase, Strategy, run_rng
from forgetlab.strategies.lwf import distillation
from forgetlab.validation import AnyOf, Constraint, Hidden, Interval, Options, SequenceOf

__all__ = ["GENERATIVE_RNG", "GenerativeReplay", "GenerativeState"]

#: The ``purpose`` of generative replay's RNGs (:func:`~forgetlab.strategies.base.run_rng`
#: for the VAE's initial weights; a :class:`numpy.random.Generator` seeded with
#: ``[GENERATIVE_RNG, seed]`` for every step's noise).
GENERATIVE_RNG = 6


@dataclass(eq=False)
class GenerativeState:
    """Per run: the generator being trained, the copies made at the last phase end, and the step's replay.

    Attributes
    ----------
    context : Context
        The batch's model and masks.
    vae : VAESpec
        The generators' architecture (shared).
    generator : Tensor of shape (R, P_vae)
        The VAEs trained alongside the learner.
    optimizer : Adam
        The generators' optimiser.
    noise : list of numpy.random.Generator
        One per run (:data:`GENERATIVE_RNG`): the latent codes of every step (a
        ``Generator``'s normal draws cost half a ``RandomState``'s, and there are
        ``R x 3k x L`` of them per step).
    teacher : Tensor of shape (R, P) or None
        The learner at the end of the last finished phase; None before.
    previous : Tensor of shape (R, P_vae) or None
        The generators at the end of the last finished phase; None before.
    heads : bool Tensor of shape (H, C) or None
        The output units distilled (as :class:`~forgetlab.strategies.lwf.LwF`'s); None for
        regression.
    tasks : set of int
        Every task trained in a finished phase.
    finished : int
        Phases finished so far.
    replayed : Tensor of shape (R, k, d) or None
        The inputs generated for the current step (the learner's and the generator's replay).
    """

    context: Context
    vae: VAESpec
    generator: torch.Tensor
    optimizer: Adam
    noise: list[np.random.Generator]
    teacher: torch.Tensor | None = None
    previous: torch.Tensor | None = None
    heads: torch.Tensor | None = None
    tasks: set[int] | None = None
    finished: int = 0
    replayed: torch.Tensor | None = None


@dataclass(frozen=True, kw_only=True)
class GenerativeReplay(Strategy):
    """Generative replay: replay inputs drawn from a generator, labelled by the previous model; no stored samples.

    Each run has a variational autoencoder (:mod:`forgetlab.numerics.vae`), trained
    alongside the learner with its own Adam. At the end of each phase the learner and the
    generator are copied (the *teacher* and the *previous generator*). During every later
    step, ``k`` inputs :math:`\\tilde x` are decoded from :math:`z \\sim N(0, I)` by the
    previous generator and

    - the learner's loss is :math:`(1 - r)\\, L_{current} + r\\, L_{replay}`, where
      :math:`L_{replay}` is the distillation of the teacher's outputs on :math:`\\tilde x`
      (:func:`~forgetlab.strategies.lwf.distillation` with ``student_units``:
      classification, :math:`T^2` times the KL divergence between the softmaxes at
      temperature :math:`T`, the teacher's over the output units it had seen, the
      learner's over the same units or, class-incremental, over every class seen so far,
      the new ones with target 0; one head per task in task-incremental learning;
      regression, the squared error to the teacher's outputs), mean over the ``k`` inputs;
    - the generator's loss is :math:`(1 - r)` times its negative ELBO on the step's stream
      inputs plus :math:`r` times that on :math:`\\tilde x` (each a mean), so it keeps
      generating the earlier tasks' inputs while it learns the current ones.

    Before the first phase ends there is nothing to replay: the learner trains as
    fine-tuning and the generator on the stream's inputs alone.

    Parameters
    ----------
    latent_size : int, default 16
        :math:`L`, the generator's latent dimension.
    hidden_layer_sizes : tuple of int, default (100,)
        The encoder's hidden ReLU layers; the decoder's are the same in reverse order.
    replay_weight : float in [0, 1] or "auto", default "auto"
        :math:`r`, the importance of the replayed inputs against the current ones.
        ``"auto"`` is van de Ven et al.'s :math:`r = 1 - 1/t` for the :math:`t`-th phase
        (the current task weighs as much as each earlier one: 1/2 in the second phase,
        4/5 in the fifth).
    replay_batch_size : int or None, default None
        ``k``, the inputs generated per step; None for as many as the step's stream samples.
    temperature : float, default 2.0
        :math:`T > 0` of the soft targets (van de Ven et al. used 2); unused for regression.
    learning_rate : float, default 1e-3
        The generator's Adam learning rate (> 0).

    Notes
    -----
    Cost: on split digits (MLP 64-100-10, minibatches of 128) a step does 7.45 times
    fine-tuning's multiply-adds, most of them the VAE's on twice the minibatch
    (``benchmarks/strategies.py --flops``); measured
    (``benchmarks/strategies.py``, one thread, 16 seeds in one batch, naive timed alternately)
    3.9-5.5x fine-tuning's time on a 2-core AMD EPYC, class-incremental ACC 0.787 against
    fine-tuning's 0.188.

    The generator's decoder has sigmoid outputs and the binary cross-entropy when every
    training input of the stream is in [0, 1] (digits), else linear outputs and the
    squared error. Per step it costs the learner a forward and backward pass on the ``k``
    generated inputs and the teacher a forward pass, and the generator a decoding and a
    training step on the stream's and the generated inputs. Everything is per run (each
    run's own VAE, copies and noise, from its seed and :data:`GENERATIVE_RNG`), so a run
    gives the same result alone or in a batch; a run whose generator diverges makes its
    learner diverge (frozen like any other) and no other run.

    References
    ----------
    Shin, H., Lee, J. K., Kim, J. & Kim, J. (2017), "Continual learning with deep
    generative replay", NeurIPS, arXiv:1705.08690.
    van de Ven, G. M., Siegelmann, H. T. & Tolias, A. S. (2020), "Brain-inspired replay for
    continual learning with artificial neural networks", Nature Communications 11, 4069.

    Examples
    --------
    >>> GenerativeReplay(latent_size=16, replay_weight=0.5).to_dict()["replay_weight"]
    0.5
    """

    name: ClassVar[str] = "generative_replay"
    constraints: ClassVar[dict[str, Constraint]] = {
        "latent_size": Interval(int, 1, None),
        "hidden_layer_sizes": SequenceOf(Interval(int, 1, None), kind="tuple", non_empty=True),
        "replay_weight": AnyOf(Interval(float, 0, 1), Options("auto")),
        "replay_batch_size": AnyOf(Hidden(None), Interval(int, 1, None)),
        "temperature": POSITIVE,
        "learning_rate": POSITIVE,
    }
    latent_size: int = 16
    hidden_layer_sizes: tuple[int, ...] = (100,)
    replay_weight: float | str = "auto"
    replay_batch_size: int | None = None
    temperature: float = 2.0
    learning_rate: float = 1e-3

    def start(self, context: Context) -> GenerativeState:
        x = context.x
        vae = VAESpec(
            n_inputs=x.shape[1],
            hidden=tuple(int(h) for h in self.hidden_layer_sizes),
            latent=int(self.latent_size),
            bounded=bool(x.numel() == 0 or (x.min() >= 0 and x.max() <= 1)),
        )
        return GenerativeState(
            context=context,
            vae=vae,
            generator=init_vae(vae, [run_rng(seed, GENERATIVE_RNG) for seed in context.seeds], x.dtype),
            optimizer=Adam(context.n_runs, vae.n_params, learning_rate_init=float(self.learning_rate), dtype=x.dtype),
            noise=[np.random.default_rng([GENERATIVE_RNG, seed]) for seed in context.seeds],
            tasks=set(),
        )

    def weight(self, finished: int) -> float:
        """:math:`r` after ``finished`` phases (0 before the first phase ends: nothing to replay).

        Examples
        --------
        >>> [GenerativeReplay().weight(n) for n in range(4)]
        [0.0, 0.5, 0.6666666666666667, 0.75]
        """
        if finished == 0:
            return 0.0
        return 1.0 - 1.0 / (finished + 1) if self.replay_weight == "auto" else float(self.replay_weight)

    def _noise(self, state: GenerativeState, n: int) -> torch.Tensor:
        """Standard normal noise (R, n, L) in the generator's dtype, each run's from its own RNG."""
        dtype = np.float32 if state.generator.dtype == torch.float32 else np.float64
        return torch.from_numpy(np.stack([rng.standard_normal((n, state.vae.latent), dtype) for rng in state.noise]))

    def data_loss(
        self, state: GenerativeState, batch: Minibatch, output: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """:math:`(1 - r)` times the trainer's data loss once there is a teacher (None before: the trainer's)."""
        r = self.weight(state.finished)
        if r == 0:
            return None
        loss, d_output = output_loss(state.context.spec, output, batch.y, batch.mask)
        return loss.mul_(1 - r), d_output.mul_(1 - r)

    def input_term(
        self, state: GenerativeState, batch: Minibatch, params: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """:math:`r L_{replay}` on newly generated inputs and its gradient (None before a teacher exists).

        The generated inputs are kept in the state for the generator's step (:meth:`observe`).
        """
        r = self.weight(state.finished)
        if r == 0:
            state.replayed = None
            return None
        spec = state.context.spec
        k = batch.n_new if self.replay_batch_size is None else int(self.replay_batch_size)
        state.replayed = decode(state.vae, state.previous, self._noise(state, k))
        teacher = forward(spec, state.teacher, state.replayed).output
        fwd = forward(spec, params, state.replayed)
        wide = batch.mask if state.context.stream.scenario == "class" else None
        loss, d_output = distillation(fwd.output, teacher, state.heads, self.temperature, student_units=wide)
        return loss.mul_(r), backward(spec, fwd, d_output.mul_(r))

    def observe(self, state: GenerativeState, index: np.ndarray) -> None:
        """One Adam step of the generator on the step's stream inputs and the replayed ones."""
        x = state.context.x[torch.from_numpy(np.asarray(index))]
        m = x.shape[1]
        weights = torch.full((m,), 1.0 / m, dtype=torch.float64)
        if state.replayed is not None:
            r, k = self.weight(state.finished), state.replayed.shape[1]
            x = torch.cat([x, state.replayed], dim=1)
            weights = torch.cat([weights * (1 - r), torch.full((k,), r / k, dtype=torch.float64)])
        _, grad = vae_loss_and_grad(state.vae, state.generator, x, self._noise(state, x.shape[1]), weights)
        state.optimizer.update(state.generator, grad)
        state.replayed = None

    def end_phase(self, state: GenerativeState, params: torch.Tensor, phase: Phase) -> None:
        """The learner becomes the teacher, the generator the previous generator; the heads cover every task."""
        context = state.context
        state.teacher = params.clone()
        state.previous = state.generator.clone()
        state.finished += 1
        state.tasks.update(phase.tasks)
        if context.active_units is None:
            state.heads = None
        elif context.stream.scenario == "task":
            state.heads = context.active_units[sorted(state.tasks)]
        else:
            state.heads = context.active_units[phase.newest].unsqueeze(0)
