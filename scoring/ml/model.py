"""The policy and value networks (torch: training only; serving uses the ONNX export)."""

from __future__ import annotations

import torch
from torch import nn


class PolicyValueNet(nn.Module):
    """Policy: an ensemble of logit heads on a shared trunk; value: a separate small network.

    The conversion probability is sigmoid(mean head logit). The heads are trained on different
    bootstrap weights of the conversations, so their spread says how much the data pins the
    estimate down (used for confidence later). Inputs are standardised with statistics of the
    training states, stored as buffers so the ONNX export carries them.
    """

    def __init__(
        self, input_dim: int, *, hidden: int = 256, hidden2: int = 128, heads: int = 5, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.register_buffer("input_mean", torch.zeros(input_dim))
        self.register_buffer("input_std", torch.ones(input_dim))
        self.trunk = nn.Sequential(
            nn.Linear(input_dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden2),
            nn.GELU(),
        )
        self.heads = nn.Linear(hidden2, heads)
        self.value_net = nn.Sequential(nn.Linear(input_dim, 128), nn.Tanh(), nn.Linear(128, 1))
        # PPO explores around the mean logit with this learned spread; serving uses the mean.
        self.log_std = nn.Parameter(torch.tensor(-1.0))

    def set_input_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.input_mean.copy_(mean)
        self.input_std.copy_(torch.clamp(std, min=1e-3))

    def forward(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(head logits (batch, heads), value (batch,))"""
        x = (state - self.input_mean) / self.input_std
        return self.heads(self.trunk(x)), self.value_net(x).squeeze(-1)


def _folded(first: nn.Linear, mean: torch.Tensor, std: torch.Tensor) -> nn.Linear:
    """`first` applied to (x - mean) / std, as one Linear on x: one matmul fewer per call when serving."""
    folded = nn.Linear(first.in_features, first.out_features)
    with torch.no_grad():
        folded.weight.copy_(first.weight / std)
        folded.bias.copy_(first.bias - (first.weight * (mean / std)).sum(dim=1))
    return folded


class ServingModel(nn.Module):
    """What the live path runs: probability and per-head probabilities for a batch of states.

    The input standardisation is folded into the first layer, and the value network is left out
    (it is exported on its own as ValueModel): a live turn needs only the probability.
    """

    def __init__(self, net: PolicyValueNet) -> None:
        super().__init__()
        layers = list(net.trunk.children())
        self.trunk = nn.Sequential(_folded(layers[0], net.input_mean, net.input_std), *layers[1:])
        self.heads = net.heads

    def forward(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.heads(self.trunk(state))
        return torch.sigmoid(logits.mean(dim=-1)), torch.sigmoid(logits)


class ValueModel(nn.Module):
    """The value network alone (expected return from a state), for guidance and analysis."""

    def __init__(self, net: PolicyValueNet) -> None:
        super().__init__()
        layers = list(net.value_net.children())
        self.value_net = nn.Sequential(_folded(layers[0], net.input_mean, net.input_std), *layers[1:])

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.value_net(state).squeeze(-1)
