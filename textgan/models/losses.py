"""Token cross-entropy with one softmax pass: the output layer's softmax dominates MLE on CPU.

`torch.nn.functional.cross_entropy` computes log-softmax forward and recomputes exponentials
in its backward; here the forward keeps the probabilities and the backward is
`(softmax - onehot) * weight`, written in place.
"""

from __future__ import annotations

import torch


class _WeightedTokenNLL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        shifted = logits - logits.amax(dim=-1, keepdim=True)
        probs = shifted.exp()
        sums = probs.sum(dim=-1, keepdim=True)
        nll = sums.squeeze(-1).log() - shifted.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        probs.div_(sums)
        ctx.save_for_backward(probs, targets, weights)
        return (nll * weights).sum()

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        probs, targets, weights = ctx.saved_tensors
        grad = probs  # reused in place: the forward's probabilities are not needed again
        grad.scatter_add_(-1, targets.unsqueeze(-1), torch.full_like(targets, -1, dtype=grad.dtype).unsqueeze(-1))
        grad.mul_((weights * grad_output).unsqueeze(-1))
        return grad, None, None


def weighted_token_nll(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Sum over rows of weight * -log softmax(logits)[target] for (N, V) logits and (N,) targets."""
    return _WeightedTokenNLL.apply(logits, targets, weights.to(torch.float32))
