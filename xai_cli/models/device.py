"""``--device auto|cpu|cuda``: the one place that decides where a deep-learning model runs."""

from __future__ import annotations

from xai_cli.errors import InputError, UsageError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str, framework: str) -> str:
    """'cpu' or 'cuda' for a model of ``framework`` ('torch', 'keras' or 'onnx').

    ``auto`` picks CUDA when the framework can reach a GPU here, else the CPU; ``cuda`` without one is
    bad input (exit 3) rather than a silent fall-back, so a CI job that expects a GPU notices.
    """
    if requested not in DEVICES:
        raise UsageError(f"--device {requested}: expected one of {', '.join(DEVICES)}")
    if requested == "cpu":
        return "cpu"
    available = cuda_available(framework)
    if requested == "cuda" and not available:
        where = "onnxruntime has no CUDAExecutionProvider" if framework == "onnx" else "torch sees no GPU"
        raise InputError(
            f"--device cuda: no CUDA device is available ({where}); use --device cpu or --device auto"
        )
    return "cuda" if available else "cpu"


def cuda_available(framework: str) -> bool:
    """Whether ``framework`` can run on a CUDA GPU in this process."""
    if framework == "onnx":
        import onnxruntime

        return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    import torch

    return bool(torch.cuda.is_available())


def onnx_providers(device: str) -> list[str]:
    """onnxruntime execution providers for a resolved device."""
    if device == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
