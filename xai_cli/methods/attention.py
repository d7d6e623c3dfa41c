"""Attention maps for image models: one function, ``attend``, for every method, batch by batch.

Maps are (height, width) at the model's input resolution; higher means more evidence for the target.
Gradient methods differentiate the network's raw output for the target (its logit, or its probability
when the network ends in a softmax); captum supplies saliency, integrated gradients and SmoothGrad
(its NoiseTunnel). Grad-CAM/Grad-CAM++ (cam.py), rollout (rollout.py) and occlusion (perturbation.py)
are our own, each module saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xai_cli.errors import UsageError
from xai_cli.methods.faithfulness import Faithfulness, deletion_insertion
from xai_cli.methods.perturbation import blurred, occlusion, spatial_size
from xai_cli.models.network import Network, to_probabilities

METHODS = ("gradcam", "gradcam++", "saliency", "integrated-gradients", "smoothgrad", "occlusion", "rollout")
GRADIENT_METHODS = frozenset({"gradcam", "gradcam++", "saliency", "integrated-gradients", "smoothgrad"})
LAYER_METHODS = frozenset({"gradcam", "gradcam++"})
BASELINES = ("black", "blurred")


@dataclass(frozen=True)
class AttentionOptions:
    """How to compute the maps; ``window``/``stride`` default to 1/8 and 1/16 of the smaller side."""

    method: str
    layer: str | None = None
    steps: int = 32
    baseline: str = "black"
    samples: int = 16
    noise: float = 0.15
    window: int | None = None
    stride: int | None = None
    batch_size: int = 32
    faithfulness_steps: int = 16
    seed: int = 0

    def settings(self, height: int | None, width: int | None) -> dict[str, Any]:
        """The settings that shape this method's maps (for the report)."""
        settings: dict[str, Any] = {
            "batch_size": self.batch_size,
            "faithfulness_steps": self.faithfulness_steps,
        }
        if self.method in LAYER_METHODS:
            settings["layer"] = self.layer
        if self.method == "integrated-gradients":
            settings.update(steps=self.steps, baseline=self.baseline)
        if self.method == "smoothgrad":
            settings.update(samples=self.samples, noise=self.noise)
        if self.method == "occlusion":
            if height is not None and width is not None:
                window, stride = occlusion_geometry(self, height, width)
                settings.update(window=list(window), stride=list(stride))
            else:
                settings.update(window=self.window, stride=self.stride)
        return settings


@dataclass
class ImageAttention:
    """One image's map and what the model said about it (indices into the model's outputs)."""

    saliency: np.ndarray
    probabilities: np.ndarray
    prediction: int
    target: int
    peak: tuple[int, int]
    faithfulness: Faithfulness | None
    convergence_delta: float | None = None


def choose_method(network: Network, requested: str | None) -> str:
    """The requested method, checked against what the network allows; default gradcam or occlusion."""
    if requested is None:
        return "gradcam" if network.differentiable and network.conv_layers() else "occlusion"
    if requested not in METHODS:
        raise UsageError(f"--method {requested}: expected one of {', '.join(METHODS)}")
    if requested in GRADIENT_METHODS | {"rollout"} and not network.differentiable:
        raise UsageError(f"--method {requested}: {network.no_gradients_reason()}")
    return requested


def occlusion_geometry(options: AttentionOptions, height: int, width: int) -> tuple[tuple[int, int], ...]:
    """(window, stride) in pixels of the model input."""
    side = min(height, width)
    window = options.window or max(1, side // 8)
    stride = options.stride or max(1, window // 2)
    return (min(window, height), min(window, width)), (stride, stride)


def attend(
    network: Network,
    batch: np.ndarray,
    target: int | None,
    options: AttentionOptions,
    black: np.ndarray,
    indices: list[int],
) -> list[ImageAttention]:
    """Maps, predictions and faithfulness for a batch of model inputs (all the same size).

    ``target`` is a class index, or None for each image's predicted class; ``black`` is a black pixel
    in the model's input space (broadcastable to one input); ``indices`` are the inputs' positions in
    the whole run, which seed the random rankings, so they do not depend on how images were batched.
    """
    kind = network.kind_of_output()
    probabilities = to_probabilities(network.run(batch, chunk=options.batch_size), kind)
    predictions = [int(i) for i in np.argmax(probabilities, axis=1)]
    targets = [target if target is not None else p for p in predictions]
    layout = network.input_spec.layout
    width = spatial_size(batch[0], layout)[1]
    maps, deltas = attention_maps(network, batch, targets, options, black, indices[0])
    results = []
    smoothed = blurred(batch, layout) if options.faithfulness_steps else None
    for i, (saliency, probs) in enumerate(zip(maps, probabilities, strict=True)):
        peak_index = int(np.argmax(saliency))
        faith = None
        if smoothed is not None:
            faith = deletion_insertion(
                _probability_function(network, targets[i], options.batch_size),
                batch[i],
                saliency,
                black,
                smoothed[i],
                layout,
                options.faithfulness_steps,
                np.random.default_rng([options.seed, indices[i]]),
            )
        results.append(
            ImageAttention(
                saliency=saliency.astype(np.float32),
                probabilities=probs,
                prediction=predictions[i],
                target=targets[i],
                peak=(peak_index // width, peak_index % width),
                faithfulness=faith,
                convergence_delta=deltas[i],
            )
        )
    return results


def attention_maps(
    network: Network,
    batch: np.ndarray,
    targets: list[int],
    options: AttentionOptions,
    black: np.ndarray,
    first_index: int = 0,
) -> tuple[np.ndarray, list[float | None]]:
    """The maps (batch, height, width) of ``options.method`` for each input's target class, and per input
    the integrated-gradients convergence delta (None for the other methods)."""
    if options.method != "occlusion":
        return _torch_maps(network, batch, targets, options, black, first_index)
    layout = network.input_spec.layout
    height, width = spatial_size(batch[0], layout)
    maps = [
        occlusion(
            _score_function(network, target, options.batch_size),
            one,
            black,
            layout,
            *occlusion_geometry(options, height, width),
            options.batch_size,
        )
        for one, target in zip(batch, targets, strict=True)
    ]
    return np.stack(maps), [None] * len(batch)


def _score_function(network: Network, target: int, chunk: int) -> Any:
    kind = network.kind_of_output()

    def scores(batch: np.ndarray) -> np.ndarray:
        raw = network.run(batch, chunk=chunk)
        if kind == "sigmoid":
            raw = np.hstack([1.0 - raw, raw])
        return raw[:, target]

    return scores


def _probability_function(network: Network, target: int, chunk: int) -> Any:
    kind = network.kind_of_output()

    def probability(batch: np.ndarray) -> np.ndarray:
        return to_probabilities(network.run(batch, chunk=chunk), kind)[:, target]

    return probability


def _torch_maps(
    network: Network,
    batch: np.ndarray,
    targets: list[int],
    options: AttentionOptions,
    black: np.ndarray,
    first_index: int,
) -> tuple[np.ndarray, list[float | None]]:
    import torch

    from xai_cli.methods.cam import class_scores, gradcam
    from xai_cli.methods.rollout import rollout

    x = network.to_tensor(batch).requires_grad_(True)
    target_tensor = torch.as_tensor(targets, dtype=torch.long, device=x.device)
    layout = network.input_spec.layout
    channel_axis = 1 if layout == "NCHW" else -1
    height, width = spatial_size(batch[0], layout)
    kind = network.kind_of_output()
    deltas: list[float | None] = [None] * len(batch)

    def forward(inputs: Any) -> Any:
        return class_scores(network.forward(inputs), kind)

    if options.method in LAYER_METHODS:
        assert options.layer is not None
        coarse = gradcam(network, x, target_tensor, options.layer, plus=options.method == "gradcam++")
        maps = _upsample(coarse, height, width)
    elif options.method == "rollout":
        maps = _upsample(rollout(network, x), height, width)
    elif options.method == "saliency":
        from captum.attr import Saliency

        gradients = Saliency(forward).attribute(x, target=target_tensor, abs=True)
        maps = gradients.amax(dim=channel_axis)
    elif options.method == "smoothgrad":
        from captum.attr import NoiseTunnel, Saliency

        torch.manual_seed(options.seed * 1_000_003 + first_index)
        spread = float((x.amax() - x.amin()).item()) or 1.0
        gradients = NoiseTunnel(Saliency(forward)).attribute(
            x,
            nt_type="smoothgrad",
            nt_samples=options.samples,
            nt_samples_batch_size=options.batch_size,
            stdevs=options.noise * spread,
            target=target_tensor,
        )
        maps = gradients.abs().amax(dim=channel_axis)
    elif options.method == "integrated-gradients":
        from captum.attr import IntegratedGradients

        baseline = (
            network.to_tensor(blurred(batch, layout))
            if options.baseline == "blurred"
            else network.to_tensor(np.broadcast_to(black, batch.shape))
        )
        attributions, delta = IntegratedGradients(forward).attribute(
            x,
            baselines=baseline,
            target=target_tensor,
            n_steps=options.steps,
            internal_batch_size=options.batch_size,
            return_convergence_delta=True,
        )
        maps = attributions.sum(dim=channel_axis)
        deltas = [float(abs(d)) for d in delta.detach().cpu().numpy()]
    else:
        raise UsageError(f"--method {options.method}: expected one of {', '.join(METHODS)}")
    return maps.detach().float().cpu().numpy(), deltas


def _upsample(maps: Any, height: int, width: int) -> Any:
    import torch.nn.functional as functional

    if tuple(maps.shape[-2:]) == (height, width):
        return maps
    return functional.interpolate(maps[:, None], size=(height, width), mode="bilinear", align_corners=False)[
        :, 0
    ]
