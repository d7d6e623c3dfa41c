"""Tiny deep-learning models trained in seconds for the tests, saved in every format xai reads.

The image task: a 32x32 gray, slightly noisy image, with or without an 8x8 checkerboard (2x2-pixel
cells) somewhere ("square" vs "blank"). A CNN that finds the square must attend to it, so a map's peak has
to fall on it; and blurring or blacking out the square removes the evidence, as the faithfulness curves
assume.
Import only after ``pytest.importorskip("torch")``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

SIZE = 32
SQUARE = 8
CLASSES = ["blank", "square"]

# The network's source, written next to the models so that --arch, --code and TorchScript can use it.
NETWORK_SOURCE = textwrap.dedent(
    '''
    import torch
    from torch import nn


    class SquareFinder(nn.Module):
        """conv-relu-pool, conv-relu, global max pool, linear: logits for blank / square."""

        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1),
                nn.ReLU(),
            )
            self.classifier = nn.Linear(16, 2)
            self.classes = ["blank", "square"]
            self.input_size = [1, 32, 32]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.classifier(torch.amax(self.features(x), dim=(2, 3)))


    def build() -> SquareFinder:
        return SquareFinder()
    '''
)


@dataclass(frozen=True)
class Planted:
    """An image with the square's top-left corner at (row, col)."""

    pixels: np.ndarray
    row: int
    col: int

    def contains(self, x: int, y: int, margin: int = 2) -> bool:
        """Whether (x, y) lies on the square, give or take ``margin`` pixels."""
        return (
            self.col - margin <= x < self.col + SQUARE + margin
            and self.row - margin <= y < self.row + SQUARE + margin
        )


def planted_image(rng: np.random.Generator, with_square: bool) -> Planted:
    """Gray 0.4 with noise (sd 0.03); with a black-and-white checkerboard square at a random place."""
    pixels = (0.4 + rng.normal(0.0, 0.03, size=(SIZE, SIZE))).astype(np.float32)
    row, col = (int(v) for v in rng.integers(0, SIZE - SQUARE + 1, size=2))
    if with_square:
        cells = (np.indices((SQUARE, SQUARE)) // 2).sum(axis=0) % 2
        pixels[row : row + SQUARE, col : col + SQUARE] = cells.astype(np.float32)
    return Planted(pixels, row, col)


def train_square_finder(module_namespace: dict[str, object]) -> nn.Module:
    """Train the SquareFinder defined in ``module_namespace`` on 256 images (about a second)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = [planted_image(rng, bool(i % 2)) for i in range(256)]
    inputs = torch.from_numpy(np.stack([im.pixels for im in images])[:, None])
    labels = torch.tensor([i % 2 for i in range(256)])
    network = module_namespace["build"]()  # type: ignore[operator]
    optimiser = torch.optim.Adam(network.parameters(), lr=0.01)
    for _ in range(12):
        for start in range(0, 256, 32):
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(
                network(inputs[start : start + 32]), labels[start : start + 32]
            )
            loss.backward()
            optimiser.step()
    network.eval()
    with torch.no_grad():
        accuracy = float((network(inputs).argmax(1) == labels).float().mean())
    assert accuracy > 0.95, f"the square finder did not learn ({accuracy:.2f})"
    return network


def save_png(pixels: np.ndarray, path: Path) -> None:
    """A 0..1 grayscale array as an 8-bit PNG."""
    Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8), mode="L").save(path)


def to_keras(network: nn.Module, folder: Path) -> tuple[Path, Path]:
    """The same network in Keras (NHWC), its weights copied over; saved as .keras and .h5."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    conv1, conv2 = network.features[0], network.features[3]
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(2, name="logits"),
        ]
    )
    for layer, source in ((model.get_layer("conv1"), conv1), (model.get_layer("conv2"), conv2)):
        layer.set_weights(
            [source.weight.detach().numpy().transpose(2, 3, 1, 0), source.bias.detach().numpy()]
        )
    dense = network.classifier
    model.get_layer("logits").set_weights([dense.weight.detach().numpy().T, dense.bias.detach().numpy()])
    keras_path, h5_path = folder / "square.keras", folder / "square.h5"
    model.save(keras_path)
    model.save(h5_path)
    return keras_path, h5_path


def to_onnx(network: nn.Module, path: Path) -> Path:
    """Export with the legacy exporter (no onnxscript needed), a dynamic batch axis."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network,
            (torch.zeros(1, 1, SIZE, SIZE),),
            str(path),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        )
    return path
