"""Attention maps per second on CPU: xai's Grad-CAM and integrated gradients beside captum used directly.

Run: ``python benchmarks/bench_attention.py`` (needs the ``[torch]`` extra). The same eager CNN (random
weights: speed does not depend on training), the same batch of images, the same layer, steps and batch
sizes, one torch thread. Each side runs ``REPEATS`` times after a warm-up, the two alternating, and
the best CPU time of the process counts (CPU time rather than wall time: on a shared machine other
processes' load changes wall times several-fold between runs, and hardly changes CPU time). xai's
figures are for ``xai_cli.methods.attention.attention_maps`` (the maps, without reading images,
faithfulness curves or overlays); an end-to-end line times the whole ``xai attention`` run.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMAGES = 32
SIZE = 64
BATCH = 32
IG_STEPS = 32
REPEATS = 3


def best_times(ours: Callable[[], object], peer: Callable[[], object]) -> tuple[float, float]:
    """Best CPU times of REPEATS runs each, after a warm-up; the two sides alternate."""
    ours()
    peer()
    ours_times, peer_times = [], []
    for _ in range(REPEATS):
        for action, times in ((ours, ours_times), (peer, peer_times)):
            start = time.process_time()
            action()
            times.append(time.process_time() - start)
    return min(ours_times), min(peer_times)


def network_and_images() -> tuple[object, np.ndarray]:
    """A 4-block CNN on 3x64x64 inputs (about 0.3 GFLOP per image) and a batch of random images."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    blocks: list[nn.Module] = []
    channels = 3
    for width in (32, 64, 64, 128):
        blocks += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        channels = width
    module = nn.Sequential(
        *blocks[:-1], nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10)
    ).eval()
    images = np.random.default_rng(0).uniform(size=(IMAGES, 3, SIZE, SIZE)).astype(np.float32)
    return module, images


def main() -> None:
    """Print the comparison table."""
    import captum
    import torch
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam

    import xai_cli
    from xai_cli.methods.attention import AttentionOptions, attention_maps
    from xai_cli.models.torch import EagerNetwork

    torch.set_num_threads(1)
    module, images = network_and_images()
    network = EagerNetwork(module, "cpu")
    network.calibrate(images[:BATCH])
    layer_name = network.conv_layers()[-1]
    layer = dict(module.named_modules())[layer_name]
    with torch.no_grad():
        targets = module(torch.from_numpy(images)).argmax(1).tolist()
    black = np.zeros((3, 1, 1), dtype=np.float32)

    def xai_run(method: str) -> Callable[[], object]:
        options = AttentionOptions(method=method, layer=layer_name, steps=IG_STEPS, batch_size=BATCH)

        def run() -> None:
            for start in range(0, IMAGES, BATCH):
                attention_maps(
                    network, images[start : start + BATCH], targets[start : start + BATCH], options, black
                )

        return run

    def captum_gradcam() -> None:
        gradcam = LayerGradCam(module, layer)
        for start in range(0, IMAGES, BATCH):
            x = torch.from_numpy(images[start : start + BATCH])
            maps = gradcam.attribute(x, target=targets[start : start + BATCH], relu_attributions=True)
            LayerAttribution.interpolate(maps, (SIZE, SIZE), interpolate_mode="bilinear").detach().numpy()

    def captum_ig() -> None:
        ig = IntegratedGradients(module)
        for start in range(0, IMAGES, BATCH):
            x = torch.from_numpy(images[start : start + BATCH]).requires_grad_(True)
            ig.attribute(
                x,
                baselines=torch.zeros_like(x),
                target=targets[start : start + BATCH],
                n_steps=IG_STEPS,
                internal_batch_size=BATCH,
                return_convergence_delta=True,
            )[0].sum(1).detach().numpy()

    rows = []
    for task, ours, peer in (
        (f"gradcam ({layer_name})", xai_run("gradcam"), captum_gradcam),
        (f"integrated-gradients ({IG_STEPS} steps)", xai_run("integrated-gradients"), captum_ig),
    ):
        xai_time, peer_time = best_times(ours, peer)
        rows.append((task, xai_time, peer_time))

    print(
        f"xai-cli {xai_cli.__version__}, torch {torch.__version__}, captum {captum.__version__}, "
        f"python {platform.python_version()}, {torch.get_num_threads()} torch thread, "
        f"{IMAGES} images 3x{SIZE}x{SIZE}, batch {BATCH}, best CPU time of {REPEATS}"
    )
    print(f"{'task':<34} {'xai s':>8} {'captum s':>9} {'ratio':>6} {'xai img/s':>10} {'captum img/s':>13}")
    print("(seconds of CPU time; images per CPU-second)")
    for task, xai_time, peer_time in rows:
        print(
            f"{task:<34} {xai_time:8.3f} {peer_time:9.3f} {xai_time / peer_time:6.2f} "
            f"{IMAGES / xai_time:10.1f} {IMAGES / peer_time:13.1f}"
        )
    print(
        f"end to end: {end_to_end():.1f} images per CPU-second for 'xai attention' on the digits sample "
        "(gradcam, overlays, faithfulness curves of 16 steps)"
    )


def end_to_end() -> float:
    """Images per CPU-second of the whole command on the bundled digits (model load included)."""
    from tests.conftest import run_in_process

    model = ROOT / "sample_models" / "digits_cnn.pt"
    images = ROOT / "sample_data" / "digits"
    with tempfile.TemporaryDirectory() as out:
        run_in_process("attention", model, images, "--out", out, "--quiet", "--device", "cpu")
        start = time.process_time()
        result = run_in_process("attention", model, images, "--out", out, "--quiet", "--device", "cpu")
        elapsed = time.process_time() - start
    assert result.exit_code == 0, result.stderr
    return len(list(images.iterdir())) / elapsed


if __name__ == "__main__":
    main()
