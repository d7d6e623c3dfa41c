"""Attention rollout (Abnar & Zuidema, 2020) for vision transformers that expose attention weights.

Each layer's attention, averaged over heads, is mixed with the identity (the residual path),
``A' = (A + I) / 2`` re-normalised per row, and the layers are multiplied in order. With a class token
(tokens = 1 + grid^2, or a few extra leading tokens), the map is the class token's row over the patch
tokens; without one, the attention each patch receives, averaged over all tokens. Class-agnostic: the
target does not change the map.
"""

from __future__ import annotations

import math
from typing import Any

from xai_cli.errors import UsageError
from xai_cli.models.network import Network

MAX_EXTRA_TOKENS = 8


def rollout(network: Network, x: Any) -> Any:
    """Rollout maps (batch, grid, grid) over the patch grid."""
    import torch

    with torch.no_grad():
        layers = network.attention_weights(x)
    if not layers:
        raise UsageError(
            "--method rollout needs a vision transformer that exposes its attention weights: "
            "nn.MultiheadAttention layers, or an attention_weights(x) method returning "
            "(layers, batch, heads, tokens, tokens); use gradcam, saliency or occlusion otherwise"
        )
    joint = None
    for weights in layers:
        attention = weights.detach().float().mean(dim=1)
        identity = torch.eye(attention.shape[-1], device=attention.device)
        mixed = 0.5 * attention + 0.5 * identity
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        joint = mixed if joint is None else mixed @ joint
    assert joint is not None
    tokens = joint.shape[-1]
    grid = math.isqrt(tokens)
    extra = tokens - grid * grid
    if extra > MAX_EXTRA_TOKENS or grid == 0:
        raise UsageError(f"rollout: {tokens} tokens do not form a square grid of patches")
    relevance = joint[:, 0, extra:] if extra else joint.mean(dim=1)
    return relevance.reshape(-1, grid, grid)
