"""The networks of the bundled deep-learning samples (TorchScript keeps their code; this is the source).

Both take 1 x 32 x 32 grayscale digits in 0..1 and declare it (``input_size``), name their classes
(``classes``), and return logits. The vision transformer also exports ``attention_weights(x)``:
(layers, batch, heads, tokens, tokens), which ``xai attention --method rollout`` reads.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

DIGIT_CLASSES = [str(i) for i in range(10)]


class DigitsCNN(nn.Module):
    """Three 3x3 convolution blocks (8, 16, 32 channels, batch norm, ReLU; two max-pools), global average
    pooling, a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_conv_block(1, 8),
            nn.MaxPool2d(2),
            *_conv_block(8, 16),
            nn.MaxPool2d(2),
            *_conv_block(16, 32),
        )
        self.classifier = nn.Linear(32, 10)
        self.classes = list(DIGIT_CLASSES)
        self.input_size = [1, 32, 32]

    def forward(self, x: Tensor) -> Tensor:
        """Logits (batch, 10)."""
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def _conv_block(inputs: int, outputs: int) -> list[nn.Module]:
    return [nn.Conv2d(inputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.ReLU()]


class Block(nn.Module):
    """Pre-norm transformer block that also returns its attention weights (batch, heads, tokens, tokens)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(tokens out, attention weights)."""
        batch, tokens, dim = x.shape
        head_dim = dim // self.heads
        qkv = self.qkv(self.norm1(x)).reshape(batch, tokens, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        query, key, value = qkv[0], qkv[1], qkv[2]
        attention = torch.softmax(query @ key.transpose(-2, -1) * head_dim**-0.5, dim=-1)
        mixed = (attention @ value).transpose(1, 2).reshape(batch, tokens, dim)
        x = x + self.proj(mixed)
        return x + self.mlp(self.norm2(x)), attention


class DigitsViT(nn.Module):
    """4x4 patches (an 8x8 grid) plus a class token, two blocks of four heads, width 32."""

    def __init__(self) -> None:
        super().__init__()
        dim = 32
        self.patch = nn.Conv2d(1, dim, kernel_size=4, stride=4)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.position = nn.Parameter(torch.randn(1, 65, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, 4) for _ in range(2)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)
        self.classes = list(DIGIT_CLASSES)
        self.input_size = [1, 32, 32]

    def run(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Logits and every block's attention weights."""
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1) + self.position
        maps: list[Tensor] = []
        for block in self.blocks:
            tokens, attention = block(tokens)
            maps.append(attention)
        return self.head(self.norm(tokens[:, 0])), maps

    def forward(self, x: Tensor) -> Tensor:
        """Logits (batch, 10)."""
        return self.run(x)[0]

    @torch.jit.export
    def attention_weights(self, x: Tensor) -> Tensor:
        """(layers, batch, heads, tokens, tokens)."""
        return torch.stack(self.run(x)[1])
