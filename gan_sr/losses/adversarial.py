"""Every adversarial objective, for the ADA GAN and the SR GANs alike.

Logits are raw discriminator outputs of any shape (per image or per pixel); losses are means over
all elements. Kinds: "ns" (non-saturating logistic, alias "vanilla"/"logistic"), "lsgan" (targets
0/1), "hinge", "wgan" (alias "wgan-gp"; the penalty is `gradient_penalty`) and "ragan"
(relativistic average, ESRGAN). Penalties are returned unweighted; the trainer applies gamma/lambda.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_sr.errors import ConfigError

KINDS = ("ns", "lsgan", "hinge", "wgan", "ragan")
_ALIASES = {"vanilla": "ns", "logistic": "ns", "gan": "ns", "wgan-gp": "wgan", "wgan_gp": "wgan",
            "ls": "lsgan", "relativistic": "ragan"}


def canonical_kind(kind: str) -> str:
    """The canonical loss name for `kind` (aliases resolved); ConfigError naming the known kinds."""
    k = str(kind).lower().strip()
    k = _ALIASES.get(k, k)
    if k not in KINDS:
        known = ", ".join(KINDS + tuple(_ALIASES))
        raise ConfigError(f"unknown adversarial loss {kind!r}; known kinds: {known}")
    return k


def d_loss(kind: str, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator (critic) loss: low when reals score high and fakes low."""
    k = canonical_kind(kind)
    r, f = real_logits.float(), fake_logits.float()
    if k == "ns":
        return F.softplus(-r).mean() + F.softplus(f).mean()
    if k == "lsgan":
        return 0.5 * ((r - 1.0).pow(2).mean() + f.pow(2).mean())
    if k == "hinge":
        return F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()
    if k == "wgan":
        return f.mean() - r.mean()
    ones, zeros = torch.ones_like(r), torch.zeros_like(f)
    return 0.5 * (F.binary_cross_entropy_with_logits(r - f.mean(), ones)
                  + F.binary_cross_entropy_with_logits(f - r.mean(), zeros))


def g_loss(kind: str, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """Generator loss on D's scores of fakes; "ragan" also needs the real scores (used detached)."""
    k = canonical_kind(kind)
    f = fake_logits.float()
    if k == "ns":
        return F.softplus(-f).mean()
    if k == "lsgan":
        return 0.5 * (f - 1.0).pow(2).mean()
    if k in ("hinge", "wgan"):
        return -f.mean()
    if real_logits is None:
        raise ConfigError("the 'ragan' generator loss needs real_logits (relativistic average)")
    r = real_logits.detach().float()
    return 0.5 * (F.binary_cross_entropy_with_logits(r - f.mean(), torch.zeros_like(r))
                  + F.binary_cross_entropy_with_logits(f - r.mean(), torch.ones_like(f)))


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP: mean of (|grad critic(x_hat)| - 1)^2 on per-sample random interpolates of real and fake."""
    real, fake = real.detach(), fake.detach()
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.float().sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).float().norm(2, dim=1)
    return (norm - 1.0).pow(2).mean()


def r1_penalty(real_logits: Tensor, real_inputs: Tensor) -> Tensor:
    """R1: per-image sum of squared gradients of D's real scores w.r.t. its inputs, averaged over the batch.

    `real_inputs` must be the tensor D saw with requires_grad set (for ADA: the *augmented* reals, so
    no double backward through grid_sample is needed). The graph is kept so the penalty trains D.
    """
    if not real_inputs.requires_grad:
        raise ValueError("r1_penalty: real_inputs must require grad and be the tensor D was applied to")
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real_inputs, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


def drift_penalty(real_logits: Tensor) -> Tensor:
    """ProGAN's epsilon-drift term E[D(x)^2]: anchors a WGAN critic near 0 (weight it by 1e-3)."""
    return real_logits.float().pow(2).mean()


def overfit_signs(kind: str, real_logits: Tensor, fake_logits: Tensor | None = None) -> Tensor:
    """Per-element sign of D's real scores relative to the loss's neutral point, for ADA's r_t = E[sign].

    ns/hinge: neutral 0. lsgan: neutral 0.5 (halfway between targets 0 and 1). wgan has no fixed zero,
    so it is measured against the midpoint of the batch's mean real and mean fake scores (where a
    logistic D's boundary sits for equal-spread scores). ragan: against the mean fake score, as in D_Ra.
    """
    k = canonical_kind(kind)
    r = real_logits.detach().float()
    if k in ("ns", "hinge"):
        return torch.sign(r)
    if k == "lsgan":
        return torch.sign(r - 0.5)
    if fake_logits is None:
        raise ConfigError(f"the overfitting heuristic for the {k!r} loss needs fake_logits")
    f = fake_logits.detach().float()
    if k == "wgan":
        return torch.sign(r - 0.5 * (r.mean() + f.mean()))
    return torch.sign(r - f.mean())
