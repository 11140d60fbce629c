"""GAN objectives: values and gradient signs on hand-made logits, D*, the WGAN-GP penalty, knobs."""

from __future__ import annotations

import math

import pytest
import torch

from textgan.cli import main
from textgan.errors import ConfigError
from textgan.training.gan_objectives import (
    OBJECTIVES,
    began_convergence,
    began_d_loss,
    began_g_loss,
    began_update_k,
    clip_weights,
    discriminator_accuracy,
    get_objective,
    gradient_penalty,
    hinge_d_loss,
    instance_noise_std,
    lsgan_d_loss,
    minimax_d_loss,
    minimax_g_loss,
    non_saturating_g_loss,
    optimal_discriminator,
    rsgan_d_loss,
    wasserstein_estimate,
)

PAIRWISE = [name for name, objective in OBJECTIVES.items() if not objective.autoencoder]


def gradients(loss_fn, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    real = real.clone().requires_grad_(True)
    fake = fake.clone().requires_grad_(True)
    loss_fn(real, fake).backward()
    return real.grad, fake.grad


@pytest.mark.parametrize("name", PAIRWISE)
def test_discriminator_loss_pushes_real_up_and_fake_down(name):
    objective = OBJECTIVES[name]
    # outputs inside every objective's active region (LSGAN targets 1 and 0, hinge margins +-1)
    real, fake = torch.tensor([0.2, 0.3, 0.5]), torch.tensor([0.1, 0.6, 0.4])
    real_grad, fake_grad = gradients(lambda r, f: objective.d_loss(r, f, 1.0), real, fake)
    # gradient descent moves outputs against their gradient: real up, fake down
    assert (real_grad < 0).all()
    assert (fake_grad > 0).all()


@pytest.mark.parametrize("name", PAIRWISE)
def test_generator_loss_pushes_fake_up(name):
    objective = OBJECTIVES[name]
    fake = torch.tensor([0.1, -0.6, 0.4], requires_grad=True)  # LSGAN target 1, all below it
    objective.g_loss(fake, torch.tensor([0.3, 0.3, 0.3])).backward()
    assert (fake.grad < 0).all()


def test_known_values():
    zero = torch.zeros(4)
    assert float(minimax_d_loss(zero, zero)) == pytest.approx(2 * math.log(2))
    assert float(rsgan_d_loss(zero, zero)) == pytest.approx(math.log(2))
    assert float(lsgan_d_loss(torch.ones(4), zero)) == 0.0
    assert float(hinge_d_loss(torch.full((4,), 1.5), torch.full((4,), -2.0))) == 0.0
    assert wasserstein_estimate(torch.tensor([3.0, 5.0]), torch.tensor([1.0, 1.0])) == pytest.approx(3.0)


def test_minimax_generator_saturates_where_non_saturating_does_not():
    """When D rejects fakes confidently (logit -10), log(1 - D) has ~no gradient, -log D has ~-1."""
    confident = torch.tensor([-10.0], requires_grad=True)
    minimax_g_loss(confident).backward()
    assert abs(float(confident.grad)) < 1e-4
    confident.grad = None
    non_saturating_g_loss(confident).backward()
    assert float(confident.grad) == pytest.approx(-1.0, abs=1e-4)


def test_label_smoothing_moves_the_optimal_real_logit():
    """With real target 0.9 the BCE optimum for a real logit is log(0.9 / 0.1), not +infinity."""
    logit = torch.tensor([math.log(9.0)], requires_grad=True)
    minimax_d_loss(logit, torch.tensor([-50.0]), real_target=0.9).backward()
    assert abs(float(logit.grad)) < 1e-6


def test_trained_discriminator_approaches_d_star_on_a_toy_problem():
    """p_data = N(0, 1), p_g = N(1.5, 1): the minimax D trained on samples matches D* = p/(p+q)."""
    g = torch.Generator().manual_seed(0)
    real = torch.randn(20000, generator=g)
    fake = torch.randn(20000, generator=g) + 1.5
    weight = torch.zeros(2, requires_grad=True)  # the log-odds of two Gaussians is linear in x
    optimizer = torch.optim.Adam([weight], lr=0.05)
    for _ in range(400):
        optimizer.zero_grad()
        minimax_d_loss(weight[0] * real + weight[1], weight[0] * fake + weight[1]).backward()
        optimizer.step()
    grid = torch.linspace(-1.0, 2.5, 50)
    normal = torch.distributions.Normal
    target = optimal_discriminator(normal(0.0, 1.0).log_prob(grid).exp(), normal(1.5, 1.0).log_prob(grid).exp())
    learned = torch.sigmoid(weight[0] * grid + weight[1]).detach()
    assert float((learned - target).abs().max()) < 0.02


def test_gradient_penalty_is_zero_for_a_unit_slope_linear_critic():
    g = torch.Generator().manual_seed(0)
    direction = torch.randn(5, 7, generator=g)
    direction /= direction.norm()
    real, fake = torch.randn(16, 5, 7, generator=g), torch.randn(16, 5, 7, generator=g)
    unit = gradient_penalty(lambda x: (x * direction).sum(dim=(1, 2)), real, fake, g)
    assert float(unit) == pytest.approx(0.0, abs=1e-10)
    steep = gradient_penalty(lambda x: 3 * (x * direction).sum(dim=(1, 2)), real, fake, g)
    assert float(steep) == pytest.approx(4.0, rel=1e-5)  # (3 - 1)^2


def test_gradient_penalty_flows_back_into_the_critic():
    critic = torch.nn.Linear(4, 1)
    g = torch.Generator().manual_seed(1)
    penalty = gradient_penalty(lambda x: critic(x).squeeze(1), torch.randn(8, 4, generator=g),
                               torch.randn(8, 4, generator=g), g)
    penalty.backward()
    assert critic.weight.grad is not None and float(critic.weight.grad.abs().sum()) > 0


def test_clip_weights_bounds_every_parameter():
    module = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Linear(5, 1))
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(100)
    clip_weights(module, 0.01)
    assert max(float(p.detach().abs().max()) for p in module.parameters()) <= 0.01


def test_began_equilibrium_and_convergence():
    real, fake = torch.tensor([1.0, 1.0]), torch.tensor([0.2, 0.2])
    # fakes reconstructed better than gamma * real: k rises so D pushes fakes harder
    assert began_update_k(0.0, real, fake, gamma=0.5, lambda_k=0.1) == pytest.approx(0.03)
    assert began_update_k(1.0, real, fake, gamma=0.5, lambda_k=10.0) == 1.0
    assert began_update_k(0.0, real, torch.tensor([5.0, 5.0]), gamma=0.5, lambda_k=1.0) == 0.0
    assert began_convergence(real, fake, 0.5) == pytest.approx(1.0 + 0.3)
    assert float(began_d_loss(real, fake, 0.5)) == pytest.approx(0.9)
    assert float(began_g_loss(fake)) == pytest.approx(0.2)


def test_instance_noise_anneals_linearly_to_zero():
    assert instance_noise_std(0, 0.4, 100) == pytest.approx(0.4)
    assert instance_noise_std(50, 0.4, 100) == pytest.approx(0.2)
    assert instance_noise_std(150, 0.4, 100) == 0.0
    assert instance_noise_std(10_000, 0.4, 0) == pytest.approx(0.4)


def test_discriminator_accuracy():
    real, fake = torch.tensor([2.0, -1.0, 3.0, 1.0]), torch.tensor([-2.0, -3.0, 1.0, -1.0])
    assert discriminator_accuracy(real, fake, get_objective("non_saturating")) == (0.75, 0.75)
    # critics: threshold at the midpoint of the batch means (1.25 and -1.25 -> 0)
    assert discriminator_accuracy(real, fake, get_objective("wgan")) == (0.75, 0.75)
    assert discriminator_accuracy(real, fake, get_objective("rsgan")) == (1.0, 1.0)
    # BEGAN energies: low means real (midpoint 0.3375: both reals below, one fake above)
    energies = discriminator_accuracy(torch.tensor([0.1, 0.2]), torch.tensor([0.9, 0.15]), get_objective("began"))
    assert energies == (1.0, 0.5)


def test_unknown_objective_is_a_config_error():
    with pytest.raises(ConfigError, match="gan.objective must be one of"):
        get_objective("vanilla")


@pytest.mark.parametrize("setting, message", [
    ("gan.objective=vanilla", "gan.objective must be one of minimax, non_saturating"),
    ("gan.clip=0", "gan.clip must be > 0.0, got 0"),
    ("gan.clip=-0.5", "gan.clip must be > 0.0"),
    ("gan.gp_weight=-1", "gan.gp_weight must be >= 0.0, got -1"),
    ("gan.label_smoothing=0.1", "gan.label_smoothing applies to minimax"),
])
def test_bad_gan_settings_exit_2_with_one_line(tmp_path, capsys, setting, message):
    code = main(["train", "--trainer", "gan", "--set", "gan.objective=wgan_gp", "--set", setting,
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.startswith("textgan: error: ") and err.count("\n") == 1
