"""A small variational autoencoder batched over runs: the generator of generative replay.

Every run has its own VAE; the VAEs of a batch of R runs are one flat parameter tensor
(R, P) (each layer's weights, row major, then its biases, layer after layer: the encoder's
then the decoder's), trained with hand-written backpropagation and batched matrix
products, so that a run's numbers do not depend on the other runs of its batch (the
matrix products are computed as :mod:`forgetlab.numerics.mlp` computes them). Noise is
per run: every function takes it as an argument, drawn by the caller from the run's RNG.

The model (Kingma & Welling 2014), for inputs :math:`x \\in \\mathbb{R}^d`:

- encoder: ReLU layers of the hidden sizes, then a linear layer to
  :math:`(\\mu, \\log \\sigma^2) \\in \\mathbb{R}^{2L}`;
- :math:`z = \\mu + \\sigma \\odot \\varepsilon`, :math:`\\varepsilon \\sim N(0, I_L)`
  (the reparameterisation);
- decoder: ReLU layers of the hidden sizes in reverse order, then a linear layer to the
  output :math:`o \\in \\mathbb{R}^d`; the reconstruction is :math:`\\mathrm{sigmoid}(o)`
  for inputs in [0, 1] (``bounded``), :math:`o` otherwise;
- loss per sample, the negative evidence lower bound:

  .. math:: \\ell(x) = \\mathrm{rec}(x, o)
            - \\tfrac12 \\textstyle\\sum_l (1 + \\log\\sigma_l^2 - \\mu_l^2 - \\sigma_l^2),

  with the binary cross-entropy :math:`\\mathrm{rec} = \\sum_j \\mathrm{softplus}(o_j)
  - x_j o_j` (bounded) or the Gaussian :math:`\\tfrac12 \\lVert o - x \\rVert^2`.

References
----------
Kingma, D. P. & Welling, M. (2014), "Auto-encoding variational Bayes", ICLR, arXiv:1312.6114.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch

from forgetlab.numerics.mlp import baddbmm_runs, bmm_runs

__all__ = ["VAESpec", "decode", "init_vae", "vae_loss_and_grad"]


@dataclass(frozen=True)
class VAESpec:
    """The architecture shared by the VAEs of a batch.

    Attributes
    ----------
    n_inputs : int
        :math:`d`, the learner's inputs.
    hidden : tuple of int
        The encoder's hidden sizes; the decoder's are the same in reverse order.
    latent : int
        :math:`L`.
    bounded : bool
        Sigmoid outputs and the binary cross-entropy (inputs in [0, 1]), else linear
        outputs and the squared error.

    Examples
    --------
    >>> spec = VAESpec(n_inputs=4, hidden=(3,), latent=2, bounded=True)
    >>> spec.shapes, spec.n_params
    (((4, 3), (3, 4), (2, 3), (3, 4)), 56)
    """

    n_inputs: int
    hidden: tuple[int, ...]
    latent: int
    bounded: bool

    @property
    def n_encoder_layers(self) -> int:
        """Layers of the encoder (the first ones of :attr:`shapes`)."""
        return len(self.hidden) + 1

    @property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        """``(fan_in, fan_out)`` of every layer: the encoder's, then the decoder's."""
        encoder = (self.n_inputs, *self.hidden, 2 * self.latent)
        decoder = (self.latent, *reversed(self.hidden), self.n_inputs)
        return (*pairwise(encoder), *pairwise(decoder))

    @property
    def n_params(self) -> int:
        """Parameters of one VAE."""
        return sum(fan_in * fan_out + fan_out for fan_in, fan_out in self.shapes)

    def layers(self, params: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Views ``(weights (R, fan_in, fan_out), biases (R, fan_out))`` of every layer of ``params`` (R, P)."""
        out, start = [], 0
        for fan_in, fan_out in self.shapes:
            weights = params[:, start : start + fan_in * fan_out].view(-1, fan_in, fan_out)
            start += fan_in * fan_out
            out.append((weights, params[:, start : start + fan_out]))
            start += fan_out
        return out


def init_vae(spec: VAESpec, rngs: list[np.random.RandomState], dtype: torch.dtype) -> torch.Tensor:
    """Initial parameters (R, P), one row per run's RNG: Glorot-uniform weights and biases, as the learner's.

    Run ``r``'s row is drawn from ``rngs[r]`` only (float64, then cast), layer by layer,
    weights then biases, each from ``uniform(-b, b)`` with ``b = sqrt(6 / (fan_in + fan_out))``.

    Examples
    --------
    >>> spec = VAESpec(n_inputs=4, hidden=(3,), latent=2, bounded=True)
    >>> tuple(init_vae(spec, [np.random.RandomState(0)] * 2, torch.float64).shape)
    (2, 56)
    """
    rows = []
    for rng in rngs:
        parts = []
        for fan_in, fan_out in spec.shapes:
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            parts.append(rng.uniform(-bound, bound, fan_in * fan_out))
            parts.append(rng.uniform(-bound, bound, fan_out))
        rows.append(np.concatenate(parts))
    return torch.from_numpy(np.stack(rows)).to(dtype)


def _affine(x: torch.Tensor, weights: torch.Tensor, biases: torch.Tensor) -> torch.Tensor:
    """``x @ W + b`` per run, independent of the batch size, on contiguous operands."""
    return baddbmm_runs(biases.unsqueeze(1).contiguous(), x.contiguous(), weights.contiguous())


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` per run, independent of the batch size, on contiguous operands."""
    return bmm_runs(a.contiguous(), b.contiguous())


def _forward(layers: list[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's output, the input first: ReLU on all but the last (linear) layer."""
    activations = [x]
    for i, (weights, biases) in enumerate(layers):
        z = _affine(activations[-1], weights, biases)
        activations.append(z if i == len(layers) - 1 else z.clamp_(min=0))
    return activations


def _backward(
    layers: list[tuple[torch.Tensor, torch.Tensor]],
    activations: list[torch.Tensor],
    delta: torch.Tensor,
    *,
    to_input: bool,
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor | None]:
    """Gradients ``(weights, biases)`` of every layer, and d loss / d input if ``to_input``, from d loss / d output."""
    grads = []
    for i in range(len(layers) - 1, -1, -1):
        weights, _ = layers[i]
        grads.append((_matmul(activations[i].transpose(1, 2), delta), delta.sum(dim=1)))
        if i > 0 or to_input:
            delta = _matmul(delta, weights.transpose(1, 2))
        if i > 0:
            delta = torch.ops.aten.threshold_backward(delta, activations[i], 0.0)
    return grads[::-1], delta if to_input else None


def decode(spec: VAESpec, params: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The decoder's reconstructions (R, n, d) of latent codes ``z`` (R, n, L), per run: generated inputs.

    Examples
    --------
    >>> spec = VAESpec(n_inputs=4, hidden=(3,), latent=2, bounded=True)
    >>> params = init_vae(spec, [np.random.RandomState(0)], torch.float64)
    >>> x = decode(spec, params, torch.zeros(1, 5, 2, dtype=torch.float64))
    >>> tuple(x.shape), bool(((x > 0) & (x < 1)).all())
    ((1, 5, 4), True)
    """
    output = _forward(spec.layers(params)[spec.n_encoder_layers :], z)[-1]
    return output.sigmoid_() if spec.bounded else output


def vae_loss_and_grad(
    spec: VAESpec, params: torch.Tensor, x: torch.Tensor, noise: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The weighted negative ELBO of every run and its gradient.

    .. math:: \\mathcal{L} = \\textstyle\\sum_i w_i\\, \\ell(x_i)

    with :math:`\\ell` the per-sample loss of the module docstring and :math:`z_i = \\mu_i +
    \\sigma_i \\odot \\varepsilon_i`.

    Parameters
    ----------
    spec : VAESpec
        Shared.
    params : Tensor of shape (R, P)
        Per run.
    x : Tensor of shape (R, n, d)
        Per run: the inputs to reconstruct.
    noise : Tensor of shape (R, n, L)
        Per run: :math:`\\varepsilon`, standard normal.
    weights : Tensor of shape (n,)
        Shared: each sample's weight :math:`w_i` (e.g. ``1 / n`` for the mean).

    Returns
    -------
    loss : Tensor of shape (R,)
    grad : Tensor of shape (R, P)

    Examples
    --------
    >>> spec = VAESpec(n_inputs=4, hidden=(3,), latent=2, bounded=True)
    >>> params = init_vae(spec, [np.random.RandomState(0)], torch.float64)
    >>> x, noise = torch.full((1, 5, 4), 0.5, dtype=torch.float64), torch.zeros(1, 5, 2, dtype=torch.float64)
    >>> loss, grad = vae_loss_and_grad(spec, params, x, noise, torch.full((5,), 0.2))
    >>> tuple(loss.shape), tuple(grad.shape)
    ((1,), (1, 56))
    """
    layers = spec.layers(params)
    encoder, decoder = layers[: spec.n_encoder_layers], layers[spec.n_encoder_layers :]
    weights = weights.to(x.dtype)
    enc = _forward(encoder, x)
    mu, log_var = enc[-1][..., : spec.latent], enc[-1][..., spec.latent :]
    std = (0.5 * log_var).exp()
    z = mu + std * noise
    dec = _forward(decoder, z)
    output = dec[-1]
    if spec.bounded:
        reconstruction = torch.nn.functional.softplus(output) - x * output
        d_output = output.sigmoid() - x
    else:
        d_output = output - x
        reconstruction = 0.5 * d_output * d_output
    variance = std * std
    kl = -0.5 * (1 + log_var - mu * mu - variance)
    loss = (reconstruction.sum(dim=2) + kl.sum(dim=2)).mul_(weights).sum(dim=1)
    w = weights.view(1, -1, 1)
    decoder_grads, d_z = _backward(decoder, dec, d_output * w, to_input=True)
    d_mu = d_z + mu * w
    d_log_var = d_z * noise * (0.5 * std) + 0.5 * (variance - 1) * w
    encoder_grads, _ = _backward(encoder, enc, torch.cat([d_mu, d_log_var], dim=2), to_input=False)
    grad = torch.cat([g.flatten(1) for pair in encoder_grads + decoder_grads for g in pair], dim=1)
    return loss, grad
