"""Token cross-entropy with one softmax pass: the output layer's softmax dominates MLE on CPU.

`torch.nn.functional.cross_entropy` computes log-softmax forward and recomputes exponentials
in its backward; here the forward keeps the probabilities and the backward is
`(softmax - onehot) * weight`, written in place.
"""

from __future__ import annotations

import torch

from textgan.chunking import chunk_rows

BLOCK_ROWS = 128  # rows of logits formed at once on the CPU: a (128, V) block stays in cache


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


def _block_softmax(h: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, target: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One row block's float32 exp(logits - max), their row sums and the targets' shifted logits."""
    logits = (h @ w.t()).float()
    if bias is not None:
        logits += bias.float()
    logits -= logits.amax(dim=1, keepdim=True)
    picked = logits.gather(1, target).squeeze(1)
    probs = logits.exp_()
    return probs, probs.sum(dim=1), picked


def _compute_dtype(hidden: torch.Tensor) -> torch.dtype:
    """Under autocast the matmuls run in its dtype (bf16 uses AMX on recent Xeons); softmax and
    sums stay in float32."""
    device_type = hidden.device.type
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else hidden.dtype


class _FusedLinearNLL(torch.autograd.Function):
    """Output layer + softmax + NLL in row blocks that stay in cache; gradients formed eagerly."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                targets: torch.Tensor, weights: torch.Tensor, block_rows: int) -> torch.Tensor:
        compute = _compute_dtype(hidden)
        ctx.hidden_dtype = hidden.dtype
        hidden = hidden.to(compute)
        w = weight.to(compute)
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        grad_bias = torch.zeros(weight.shape[0], dtype=torch.float32, device=weight.device) if bias is not None else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, hidden.shape[0], block_rows):
            h = hidden[start : start + block_rows]
            target = targets[start : start + block_rows].unsqueeze(1)
            weight_rows = weights[start : start + block_rows]
            probs, sums, picked = _block_softmax(h, w, bias, target)
            total += ((sums.log() - picked) * weight_rows).sum()
            probs.mul_((weight_rows / sums).unsqueeze(1))  # d loss / d logits = w * (softmax - onehot)
            probs.scatter_add_(1, target, -weight_rows.unsqueeze(1))
            grad_logits = probs.to(compute)
            grad_hidden[start : start + block_rows] = grad_logits @ w
            grad_weight.addmm_(grad_logits.t().float(), h.float()) if compute == torch.float32 else \
                grad_weight.add_((grad_logits.t() @ h).float())
            if grad_bias is not None:
                grad_bias += probs.sum(dim=0)
        ctx.save_for_backward(grad_hidden, grad_weight, grad_bias if grad_bias is not None else torch.empty(0))
        ctx.has_bias = bias is not None
        ctx.weight_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
        scale = grad_output.to(torch.float32)
        return ((grad_hidden * scale.to(grad_hidden.dtype)).to(ctx.hidden_dtype), (grad_weight * scale).to(ctx.weight_dtype),
                (grad_bias * scale).to(ctx.weight_dtype) if ctx.has_bias else None, None, None, None)


def _linear_nll_value(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      targets: torch.Tensor, weights: torch.Tensor, block_rows: int) -> torch.Tensor:
    """The fused loss's value alone: one matmul per block, no gradient buffers (evaluation)."""
    compute = _compute_dtype(hidden)
    hidden, w = hidden.to(compute), weight.to(compute)
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    for start in range(0, hidden.shape[0], block_rows):
        target = targets[start : start + block_rows].unsqueeze(1)
        _, sums, picked = _block_softmax(hidden[start : start + block_rows], w, bias, target)
        total += ((sums.log() - picked) * weights[start : start + block_rows]).sum()
    return total


def fused_linear_nll(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                     targets: torch.Tensor, weights: torch.Tensor, block_rows: int = 0) -> torch.Tensor:
    """Sum of weight * -log softmax(hidden @ weight.T + bias)[target] without materialising all logits.

    hidden (N, H), weight (V, H), bias (V,) or None, targets and weights (N,). Rows are processed
    in blocks small enough for the (block, V) logits to stay in cache. When a gradient is wanted
    it is formed in the same pass (so the backward is a multiplication by the incoming gradient);
    under `torch.no_grad()`, or when no input requires a gradient, only the loss is computed.
    `block_rows` 0: BLOCK_ROWS on the CPU, more on a GPU (`chunk_rows`).
    """
    block_rows = block_rows or chunk_rows(BLOCK_ROWS, hidden.device)
    weights = weights.to(torch.float32)
    inputs = (hidden, weight) if bias is None else (hidden, weight, bias)
    if not (torch.is_grad_enabled() and any(t.requires_grad for t in inputs)):
        with torch.no_grad():
            return _linear_nll_value(hidden, weight, bias, targets, weights, block_rows)
    return _FusedLinearNLL.apply(hidden, weight, bias, targets, weights, block_rows)
