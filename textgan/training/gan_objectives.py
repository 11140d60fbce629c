"""GAN objectives as pure functions of discriminator outputs, usable by every GAN in the toolkit.

Each objective takes D's raw outputs (logits, or critic scores for the Wasserstein family) on a
real and a fake batch; the sigmoid and log live inside the losses (softplus form, stable for any
logit). Conventions, with D(x) = sigmoid(output):

- minimax (Goodfellow et al. 2014): D maximises log D(x) + log(1 - D(G(z))); G minimises
  log(1 - D(G(z))) — saturates when D rejects fakes confidently.
- non_saturating: same D; G minimises -log D(G(z)) — strong gradients exactly when D wins.
- lsgan (Mao et al. 2017): least squares on the raw output, targets 1 (real) and 0 (fake).
- wgan (Arjovsky et al. 2017): critic maximises E[f(x)] - E[f(G(z))]; weights clipped to [-c, c].
- wgan_gp (Gulrajani et al. 2017): the same losses plus `gradient_penalty` (lambda 10).
- hinge (Lim & Ye 2017; Miyato et al. 2018): D minimises relu(1 - f(x)) + relu(1 + f(G(z))).
- rsgan (Jolicoeur-Martineau 2018): D judges whether the real sample is more real than the fake.
- began (Berthelot et al. 2017): D is an autoencoder; its outputs are reconstruction energies,
  balanced by the equilibrium variable k_t (see the began_* functions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, ContextManager

import torch
import torch.nn.functional as F

from textgan.errors import ConfigError

LossFn = Callable[..., torch.Tensor]


# -- the classic losses -----------------------------------------------------------------------
def minimax_d_loss(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy of D on real (target `real_target`, < 1 for one-sided smoothing) and fake (0)."""
    real_term = real_target * F.softplus(-real) + (1.0 - real_target) * F.softplus(real)
    return real_term.mean() + F.softplus(fake).mean()


def minimax_g_loss(fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """mean log(1 - D(G(z))) = -softplus(fake): the original, saturating generator loss."""
    return -F.softplus(fake).mean()


def non_saturating_g_loss(fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """mean -log D(G(z)) = softplus(-fake): the non-saturating generator loss."""
    return F.softplus(-fake).mean()


def lsgan_d_loss(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """Least squares: real outputs pulled to `real_target` (1), fake outputs to 0."""
    return 0.5 * ((real - real_target) ** 2).mean() + 0.5 * (fake**2).mean()


def lsgan_g_loss(fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """Least squares: fake outputs pulled to the real target 1."""
    return 0.5 * ((fake - 1.0) ** 2).mean()


def wasserstein_d_loss(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """Critic loss E[f(G(z))] - E[f(x)]: its negative estimates the Wasserstein-1 distance."""
    return fake.mean() - real.mean()


def wasserstein_g_loss(fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """Generator loss -E[f(G(z))] (also hinge's generator loss)."""
    return -fake.mean()


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """Hinge: penalise real scores below 1 and fake scores above -1."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def rsgan_d_loss(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """Relativistic standard GAN: BCE that each real sample scores above its paired fake."""
    gap = real - fake
    return (real_target * F.softplus(-gap) + (1.0 - real_target) * F.softplus(gap)).mean()


def rsgan_g_loss(fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """Relativistic generator: BCE that each fake scores above its paired real sample."""
    if real is None:
        raise ValueError("rsgan_g_loss needs D's outputs on the real batch")
    return F.softplus(-(fake - real.detach())).mean()


def wasserstein_estimate(real: torch.Tensor, fake: torch.Tensor) -> float:
    """E[f(x)] - E[f(G(z))]: the critic's estimate of the Wasserstein-1 distance (up to scale)."""
    return float(real.detach().mean() - fake.detach().mean())


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None, mix: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad f(x_hat)||_2 - 1)^2] at random interpolates of real and fake rows.

    `mix` (B,) are the interpolation weights, drawn from `generator` when absent.
    """
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    if mix is None:
        mix = torch.rand(real.shape[0], generator=generator, device=real.device)
    mix = mix.reshape(shape).to(real.dtype)
    interpolates = (mix * real.detach() + (1.0 - mix) * fake.detach()).requires_grad_(True)
    scores = critic(interpolates)
    (grads,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    norms = grads.flatten(1).norm(2, dim=1)
    return ((norms - 1.0) ** 2).mean()


def clip_weights(module: torch.nn.Module, clip: float) -> None:
    """WGAN weight clipping: every parameter into [-clip, clip], in place."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.clamp_(-clip, clip)


# -- BEGAN -------------------------------------------------------------------------------------
def began_d_loss(real_energy: torch.Tensor, fake_energy: torch.Tensor, k: float) -> torch.Tensor:
    """BEGAN discriminator: reconstruct real well, fakes badly, weighted by k_t: L(x) - k_t L(G(z))."""
    return real_energy.mean() - k * fake_energy.mean()


def began_g_loss(fake_energy: torch.Tensor) -> torch.Tensor:
    """BEGAN generator: make fakes easy to reconstruct, L(G(z))."""
    return fake_energy.mean()


def began_update_k(k: float, real_energy: torch.Tensor, fake_energy: torch.Tensor, gamma: float,
                   lambda_k: float) -> float:
    """Proportional control of k_t toward the equilibrium E[L(G(z))] = gamma E[L(x)], kept in [0, 1]."""
    balance = gamma * float(real_energy.detach().mean()) - float(fake_energy.detach().mean())
    return min(max(k + lambda_k * balance, 0.0), 1.0)


def began_convergence(real_energy: torch.Tensor, fake_energy: torch.Tensor, gamma: float) -> float:
    """BEGAN's global convergence measure M = L(x) + |gamma L(x) - L(G(z))| (lower is better)."""
    real_mean = float(real_energy.detach().mean())
    return real_mean + abs(gamma * real_mean - float(fake_energy.detach().mean()))


# -- training knobs and diagnostics --------------------------------------------------------------
def instance_noise_std(step: int, initial_std: float, anneal_steps: int) -> float:
    """Std of Gaussian instance noise on D's inputs: `initial_std` falling linearly to 0 over `anneal_steps`."""
    if anneal_steps <= 0:
        return initial_std
    return initial_std * max(0.0, 1.0 - step / anneal_steps)


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), the minimax discriminator's optimum for a fixed G."""
    return p_data / (p_data + p_g)


@dataclass(frozen=True)
class Objective:
    """A named pair of losses and what they imply for training: its capabilities are here, and
    `discriminator_loss` / `generator_loss` apply them, so every GAN trainer treats it alike."""

    name: str
    d_loss: LossFn  # (real_out, fake_out, real_target) -> loss; BEGAN: (real, fake, k_t)
    g_loss: LossFn  # (fake_out, real_out) -> loss; BEGAN: (fake_energy)
    critic: bool  # raw output is a Wasserstein critic score (log the Wasserstein estimate)
    smoothable: bool  # has a real-label target, so one-sided label smoothing applies
    threshold: float  # output above which D calls an input real (critics: the batch midpoint)
    autoencoder: bool = False  # BEGAN: D is an autoencoder and its outputs are energies
    relativistic: bool = False  # G's loss judges fakes against real rows (D's outputs on both)
    penalty: bool = False  # D's loss adds the gradient penalty (gan.gp_weight)
    clipped: bool = False  # D's weights are clipped to [-gan.clip, gan.clip] after each update


OBJECTIVES: dict[str, Objective] = {
    "minimax": Objective("minimax", minimax_d_loss, minimax_g_loss, False, True, 0.0),
    "non_saturating": Objective("non_saturating", minimax_d_loss, non_saturating_g_loss, False, True, 0.0),
    "lsgan": Objective("lsgan", lsgan_d_loss, lsgan_g_loss, False, True, 0.5),
    "wgan": Objective("wgan", wasserstein_d_loss, wasserstein_g_loss, True, False, math.nan, clipped=True),
    "wgan_gp": Objective("wgan_gp", wasserstein_d_loss, wasserstein_g_loss, True, False, math.nan, penalty=True),
    "hinge": Objective("hinge", hinge_d_loss, wasserstein_g_loss, False, False, 0.0),
    "rsgan": Objective("rsgan", rsgan_d_loss, rsgan_g_loss, False, True, 0.0, relativistic=True),
    "began": Objective("began", began_d_loss, began_g_loss, False, False, math.nan, autoencoder=True),
}


def get_objective(name: str) -> Objective:
    """The objective called `name`; a ConfigError lists the known names otherwise."""
    if name not in OBJECTIVES:
        raise ConfigError(f"gan.objective must be one of {', '.join(OBJECTIVES)}, got {name!r}")
    return OBJECTIVES[name]


def check_label_smoothing(objective: Objective, label_smoothing: float, where: str) -> None:
    """Refuse gan.label_smoothing for an objective without a real label (`where`: the key that chose it)."""
    if label_smoothing and not objective.smoothable:
        smoothable = ", ".join(name for name, o in OBJECTIVES.items() if o.smoothable)
        raise ConfigError(f"gan.label_smoothing applies to {smoothable} (objectives with a real label), not "
                          f"{where}={objective.name}; set it to 0")


def discriminator_loss(objective: Objective, critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                       fake: torch.Tensor, autocast: Callable[[], ContextManager[object]], *, real_target: float = 1.0,
                       k: float = 0.0, gp_weight: float = 0.0, mix: Callable[[], torch.Tensor] | None = None
                       ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor, torch.Tensor]:
    """One D loss under `objective`: its losses on `critic`'s outputs for a real and a fake batch
    (under `autocast`; real label `real_target`, BEGAN's k_t), plus the gradient penalty at the
    interpolation weights `mix()` where the objective has one. Returns the loss, the means this
    process saw (d_real, d_fake, gradient_penalty, d_loss) and the outputs."""
    with autocast():
        real_out, fake_out = critic(real), critic(fake)
        if objective.autoencoder:
            loss = began_d_loss(real_out, fake_out, k)
        else:
            loss = objective.d_loss(real_out, fake_out, real_target)
    means = {"d_real": float(real_out.detach().float().mean()), "d_fake": float(fake_out.detach().float().mean())}
    if objective.penalty:
        penalty = gradient_penalty(critic, real, fake, mix=None if mix is None else mix())
        means["gradient_penalty"] = float(penalty.detach())
        loss = loss + gp_weight * penalty
    means["d_loss"] = float(loss.detach())
    return loss, means, real_out, fake_out


def generator_loss(objective: Objective, critic: Callable[[torch.Tensor], torch.Tensor], fake: torch.Tensor,
                   real: Callable[[], torch.Tensor]) -> torch.Tensor:
    """G's loss under `objective` on `critic`'s outputs for `fake`; relativistic objectives also
    judge the real rows `real()` (made only for them, after the fakes are judged)."""
    fake_out = critic(fake)
    if objective.autoencoder:
        return began_g_loss(fake_out)
    return objective.g_loss(fake_out, critic(real()) if objective.relativistic else None)


def discriminator_accuracy(real: torch.Tensor, fake: torch.Tensor, objective: Objective,
                           midpoint: float | None = None) -> tuple[float, float]:
    """Share of real and of fake inputs D classifies correctly.

    Probabilistic objectives use their decision threshold; critics and BEGAN energies have no
    absolute scale, so the midpoint of the two batch means is used (lower energy = real);
    pass `midpoint` when the batch is split over processes (the global batch's midpoint).
    """
    real, fake = real.detach().float(), fake.detach().float()
    if objective.name == "rsgan":  # relativistic: each real judged against its paired fake
        correct = float((real - fake > 0).float().mean())
        return correct, correct
    threshold = objective.threshold
    if math.isnan(threshold):
        threshold = midpoint if midpoint is not None else float(real.mean() + fake.mean()) / 2
    if objective.autoencoder:
        return float((real < threshold).float().mean()), float((fake >= threshold).float().mean())
    return float((real > threshold).float().mean()), float((fake <= threshold).float().mean())
