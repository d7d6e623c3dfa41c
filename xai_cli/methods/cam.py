"""Grad-CAM and Grad-CAM++ from a layer's output and its gradient.

Written here rather than with captum's LayerGradCam: captum reads the layer through a forward hook, and
hooks do not run inside TorchScript or ``torch.export`` graphs; each network instead gives
``forward_with_activation`` (a hook, a graph copy or a graph interpreter), and the maps are then a few
tensor operations on (activation, gradient), the same for every format.
"""

from __future__ import annotations

from typing import Any

from xai_cli.errors import UsageError
from xai_cli.models.network import Network

EPSILON = 1e-7


def class_scores(outputs: Any, kind: str) -> Any:
    """Raw outputs with one column per class: a sigmoid output p becomes the two columns 1-p, p."""
    import torch

    return torch.cat([1.0 - outputs, outputs], dim=1) if kind == "sigmoid" else outputs


def gradcam(network: Network, x: Any, targets: Any, layer: str, *, plus: bool) -> Any:
    """Class activation maps (batch, h, w) at the layer's resolution, ReLU'd.

    Grad-CAM (Selvaraju et al., 2017) weighs each channel by its mean gradient. Grad-CAM++
    (Chattopadhay et al., 2018) weighs each position's positive gradient by
    ``alpha = g^2 / (2 g^2 + sum(A) g^3)``, the closed form for an exponential of the class score.
    """
    import torch

    x = x.detach().requires_grad_(True)
    outputs, activation = network.forward_with_activation(x, layer)
    if activation.dim() != 4:
        raise UsageError(
            f"--layer {layer}: its output has shape {tuple(activation.shape)}, not a 2-D feature map; "
            "choose a convolution layer"
        )
    scores = class_scores(outputs, network.kind_of_output())
    chosen = scores.gather(1, targets.reshape(-1, 1)).sum()
    (gradient,) = torch.autograd.grad(chosen, activation)
    if network.activation_channel_axis != 1:
        activation = activation.movedim(-1, 1)
        gradient = gradient.movedim(-1, 1)
    activation = activation.detach()
    if plus:
        squared = gradient.pow(2)
        denominator = 2 * squared + activation.sum(dim=(2, 3), keepdim=True) * gradient.pow(3)
        alpha = torch.where(gradient != 0, squared / (denominator + EPSILON), torch.zeros_like(gradient))
        weights = (alpha * torch.relu(gradient)).sum(dim=(2, 3), keepdim=True)
    else:
        weights = gradient.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activation).sum(dim=1))


def default_layer(network: Network) -> str:
    """The last convolution layer, where Grad-CAM maps are usually taken."""
    layers = network.conv_layers()
    if not layers:
        raise UsageError(
            "the model has no 2-D convolution layer for Grad-CAM; use --method saliency, "
            "integrated-gradients, smoothgrad or occlusion, or name one with --layer"
        )
    return layers[-1]
