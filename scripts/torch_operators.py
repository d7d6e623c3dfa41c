"""Regenerate xai_cli/models/scanning/torch_operator_list.py: the operators networks use.

    python scripts/torch_operators.py            # writes the module, prints what each model used
    python scripts/torch_operators.py --check    # exit 1 if the module is out of date

The list is the union of
1. every operator found (by the scanner's own reader, xai_cli.models.scanning.torchscript_ops and
   torch_export_graph) in a zoo of real networks, each saved with torch.jit.script, torch.jit.trace,
   torch.jit.trace(strict=False) and torch.export: a torchvision-style ResNet (basic and bottleneck
   blocks), a MobileNet-style CNN, a U-Net-style encoder/decoder, 1-d and 3-d CNNs, an MLP, LSTM/GRU
   text classifiers, nn.TransformerEncoder, a small ViT, the bundled samples (sample_models/*.pt) and,
   when `transformers` is installed, BERT, DistilBERT, GPT-2, ViT, ResNet and ConvNeXt built from tiny
   configs with random weights (traced with torchscript=True, exported with strict=False);
2. CURATED below: the same families' operators the zoo happens not to call (other activations,
   pools, norms, losses...), each checked to exist in torch's operator registry.
Operators in xai_cli.models.scanning.torch_operators.REFUSED_OPERATORS or a refused namespace are never
admitted, whatever a model used. ATEN_NAMES is every aten operator name torch registers, so that a
method of a model's own class named like an operator is judged as that operator.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUTPUT = ROOT / "xai_cli" / "models" / "scanning" / "torch_operator_list.py"

CURATED: dict[str, list[str]] = {
    "activations": [
        "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "selu_", "celu", "gelu",
        "silu", "silu_", "mish", "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_", "hardtanh",
        "hardtanh_", "sigmoid", "sigmoid_", "tanh", "tanh_", "softplus", "prelu", "rrelu",
        "glu", "softmax", "log_softmax", "_softmax", "_log_softmax", "threshold", "threshold_",
        "hardshrink", "softshrink",
    ],
    "convolution": [
        "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
        "convolution", "_convolution", "conv_tbc",
    ],
    "pooling": [
        "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
        "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
        "adaptive_max_pool2d", "adaptive_max_pool3d", "max_pool2d_with_indices",
        "_adaptive_avg_pool2d", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle",
    ],
    "normalisation": [
        "batch_norm", "_native_batch_norm_legit_no_training", "native_batch_norm", "layer_norm",
        "native_layer_norm", "group_norm", "native_group_norm", "instance_norm", "rms_norm",
        "norm", "linalg_vector_norm", "frobenius_norm",
    ],
    "linear and attention": [
        "linear", "addmm", "mm", "bmm", "matmul", "baddbmm", "addmv", "mv", "dot", "einsum", "bilinear",
        "scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
        "_native_multi_head_attention", "_transformer_encoder_layer_fwd", "embedding", "embedding_bag",
        "dropout", "dropout_", "feature_dropout", "alpha_dropout", "feature_alpha_dropout", "native_dropout",
        "lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell",
    ],
    "elementwise maths": [
        "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "true_divide", "floor_divide",
        "remainder", "fmod", "pow", "sqrt", "rsqrt", "exp", "exp2", "expm1", "log", "log2", "log10",
        "log1p", "abs", "neg", "sign", "reciprocal", "square", "clamp", "clamp_", "clamp_min", "clamp_max",
        "clip", "floor", "ceil", "round", "trunc", "frac", "sin", "cos", "tan", "asin", "acos", "atan",
        "atan2", "sinh", "cosh", "tanh", "erf", "erfc", "erfinv", "lerp", "addcmul", "addcdiv", "maximum",
        "minimum", "fmax", "fmin", "where", "masked_fill", "masked_fill_", "logical_and", "logical_or",
        "logical_not", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_not", "bitwise_xor", "eq", "ne",
        "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite", "nan_to_num", "xlogy", "hypot", "logaddexp",
        "sigmoid", "copysign", "deg2rad", "rad2deg",
    ],
    "reductions": [
        "sum", "mean", "amax", "amin", "max", "min", "prod", "std", "var", "var_mean", "std_mean", "argmax",
        "argmin", "logsumexp", "cumsum", "cumprod", "all", "any", "topk", "sort", "argsort", "median",
        "count_nonzero", "norm",
    ],
    "shapes and indexing": [
        "view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "permute", "transpose", "t",
        "contiguous", "expand", "expand_as", "repeat", "repeat_interleave", "tile", "cat", "concat",
        "concatenate", "stack", "split", "split_with_sizes", "chunk", "unbind", "narrow", "select",
        "slice", "index_select", "gather", "scatter", "scatter_add", "index", "index_put", "index_put_",
        "masked_select", "flip", "roll", "movedim", "size", "dim", "numel", "pad", "constant_pad_nd",
        "reflection_pad1d", "reflection_pad2d", "replication_pad1d", "replication_pad2d", "zeros",
        "zeros_like", "ones", "ones_like", "full", "full_like", "arange", "linspace", "eye", "tril",
        "triu", "clone", "detach", "to", "type_as", "upsample_nearest2d", "upsample_bilinear2d",
        "upsample_bicubic2d", "upsample_nearest1d", "upsample_linear1d", "upsample_nearest3d",
        "upsample_trilinear3d", "grid_sampler", "affine_grid_generator", "view_as", "alias", "unfold",
        "im2col", "col2im", "diagonal", "diag", "meshgrid", "broadcast_tensors", "tensor_split",
        "new_zeros", "new_ones", "new_full", "new_empty", "empty", "empty_like", "lift_fresh_copy",
        "_to_copy", "_unsafe_view", "as_strided", "item", "is_floating_point", "numel", "sym_size",
        "sym_numel", "sym_stride", "stride", "type_as", "masked_scatter",
    ],
}  # fmt: skip

# TorchScript's own control-flow and container ops, named as the compiler names them.
CURATED_PRIM = [
    "prim::RaiseException", "prim::range", "prim::annotate", "prim::unchecked_cast", "prim::Uninitialized",
    "prim::TupleConstruct", "prim::list", "prim::dict", "prim::isinstance", "prim::GetAttr", "prim::HasAttr",
    "prim::min", "prim::max", "prim::abs", "prim::zip", "prim::enumerate", "prim::NumToTensor",
    "prim::tolist", "prim::device", "prim::dtype", "prim::shape", "prim::layout",
]  # fmt: skip

# Higher-order ops of torch.export that only run subgraphs stored beside them (scanned too).
CURATED_HIGHER_ORDER = [
    "higher_order::cond", "higher_order::while_loop", "higher_order::wrap_with_set_grad_enabled",
    "higher_order::wrap_with_autocast",
]  # fmt: skip


def _resnet(blocks: str) -> nn.Module:
    class Basic(nn.Module):
        expansion = 1

        def __init__(self, inputs: int, width: int, stride: int = 1) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(inputs, width, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.downsample = (
                nn.Sequential(nn.Conv2d(inputs, width, 1, stride, bias=False), nn.BatchNorm2d(width))
                if stride != 1 or inputs != width
                else None
            )

        def forward(self, x: Tensor) -> Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, inputs: int, width: int, stride: int = 1) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(inputs, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(width * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = nn.Sequential(
                nn.Conv2d(inputs, width * 4, 1, stride, bias=False), nn.BatchNorm2d(width * 4)
            )

        def forward(self, x: Tensor) -> Tensor:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)) + self.downsample(x))

    block = Basic if blocks == "basic" else Bottleneck
    layers: list[nn.Module] = [
        nn.Conv2d(3, 8, 7, 2, 3, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    inputs = 8
    for width, stride in ((8, 1), (16, 2)):
        layers.append(block(inputs, width, stride))
        inputs = width * block.expansion
    layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(1), nn.Linear(inputs, 10)]
    return nn.Sequential(*layers)


class _MobileBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(3, 12, 1), nn.BatchNorm2d(12), nn.ReLU6())
        self.depthwise = nn.Sequential(nn.Conv2d(12, 12, 3, padding=1, groups=12), nn.Hardswish())
        self.squeeze = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(12, 12, 1), nn.Hardsigmoid())
        self.head = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(12, 4))

    def forward(self, x: Tensor) -> Tensor:
        x = self.depthwise(self.expand(x))
        return self.head(x * self.squeeze(x))


class _UNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.SiLU())
        self.pool = nn.AvgPool2d(2)
        self.mid = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.InstanceNorm2d(8), nn.LeakyReLU(0.1))
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.out = nn.Conv2d(16, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.down(x)
        y = self.up(self.mid(self.pool(skip)))
        y = y + nn.functional.interpolate(self.pool(skip), scale_factor=2.0, mode="bilinear")
        y = y + nn.functional.interpolate(self.pool(skip), scale_factor=2.0, mode="nearest")
        return torch.sigmoid(self.out(torch.cat([y, skip], dim=1))).mean(dim=(2, 3))


class _Signal(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.one = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ELU(), nn.MaxPool1d(2), nn.AdaptiveAvgPool1d(1))
        self.three = nn.Sequential(nn.Conv3d(1, 2, 3), nn.BatchNorm3d(2), nn.GELU(), nn.AdaptiveAvgPool3d(1))

    def forward(self, x: Tensor, v: Tensor) -> Tensor:
        return torch.cat([self.one(x).flatten(1), self.three(v).flatten(1)], 1).log_softmax(-1)


class _Text(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.embedding = nn.Embedding(50, 8)
        self.rnn = nn.LSTM(8, 8, batch_first=True) if kind == "lstm" else nn.GRU(8, 8, batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, tokens: Tensor) -> Tensor:
        out, _ = self.rnn(self.embedding(tokens))
        return torch.softmax(self.fc(out[:, -1]), dim=-1)


class _ViT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, 4)
        self.cls = nn.Parameter(torch.zeros(1, 1, 16))
        self.position = nn.Parameter(torch.zeros(1, 65, 16))
        self.norm1, self.norm2 = nn.LayerNorm(16), nn.LayerNorm(16)
        self.qkv, self.proj = nn.Linear(16, 48), nn.Linear(16, 16)
        self.mlp = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16))
        self.head = nn.Linear(16, 5)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(tokens.shape[0], -1, -1), tokens], dim=1) + self.position
        qkv = self.qkv(self.norm1(tokens)).reshape(tokens.shape[0], -1, 3, 2, 8).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        manual = torch.softmax(q @ k.transpose(-2, -1) * 0.35355, dim=-1) @ v
        fused = nn.functional.scaled_dot_product_attention(q, k, v)
        attended = (manual + fused).transpose(1, 2).reshape(tokens.shape[0], -1, 16)
        tokens = tokens + self.proj(attended)
        tokens = tokens + self.mlp(self.norm2(tokens))
        return self.head(tokens[:, 0])


def _encoder(norm_first: bool) -> nn.Module:
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, norm_first=norm_first)
    return nn.Sequential(
        nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), nn.Flatten(), nn.Linear(64, 2)
    )


def _mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 16), nn.Sigmoid(),
        nn.Dropout(0.1), nn.Linear(16, 16), nn.LeakyReLU(), nn.BatchNorm1d(16), nn.Linear(16, 3),
        nn.Softmax(dim=1),
    )  # fmt: skip


def plain_zoo() -> Iterator[tuple[str, nn.Module, tuple[Tensor, ...]]]:
    """The plain-torch networks, each with an example input."""
    image = torch.randn(2, 3, 32, 32)
    yield "resnet-basic", _resnet("basic"), (image,)
    yield "resnet-bottleneck", _resnet("bottleneck"), (image,)
    yield "mobilenet-block", _MobileBlock(), (image,)
    yield "unet", _UNet(), (image,)
    yield "signal-1d-3d", _Signal(), (torch.randn(2, 2, 16), torch.randn(2, 1, 6, 6, 6))
    yield "mlp", _mlp(), (torch.randn(5, 4),)
    yield "lstm", _Text("lstm"), (torch.randint(0, 50, (2, 7)),)
    yield "gru", _Text("gru"), (torch.randint(0, 50, (2, 7)),)
    yield "transformer-encoder", _encoder(False), (torch.randn(2, 4, 16),)
    yield "transformer-encoder-norm-first", _encoder(True), (torch.randn(2, 4, 16),)
    yield "vit", _ViT(), (image,)
    import importlib.util

    from tests import deep_models

    source = Path(tempfile.mkdtemp()) / "square_net.py"  # scripting needs the class's source file
    source.write_text(deep_models.NETWORK_SOURCE)
    spec = importlib.util.spec_from_file_location("square_net", source)
    assert spec is not None and spec.loader is not None
    square_net = importlib.util.module_from_spec(spec)
    sys.modules["square_net"] = square_net
    spec.loader.exec_module(square_net)
    yield "square-finder", square_net.build(), (torch.zeros(2, 1, 32, 32),)


class _Logits(nn.Module):
    """A transformers model called by keyword, returning its logits (as one would trace it)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, first: Tensor, mask: Tensor | None = None) -> Tensor:
        key = "pixel_values" if first.is_floating_point() else "input_ids"
        out = self.model(**{key: first}, **({} if mask is None else {"attention_mask": mask}))
        return out[0] if isinstance(out, tuple) else out.logits


def transformers_zoo() -> Iterator[tuple[str, nn.Module, tuple[Tensor, ...]]]:
    """Tiny random-weight transformers models (configs only, nothing downloaded), or none."""
    try:
        import transformers as hf
    except ImportError:
        print("transformers is not installed: skipping its models", file=sys.stderr)
        return
    common = dict(torchscript=True, return_dict=True, use_cache=False)
    text = dict(
        **common,
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
    )
    tokens = (torch.randint(0, 99, (2, 7)), torch.ones(2, 7, dtype=torch.long))
    pixels = (torch.randn(2, 3, 32, 32),)
    specs: list[tuple[str, Callable[[], nn.Module], tuple[Tensor, ...]]] = [
        ("hf-bert", lambda: hf.BertForSequenceClassification(hf.BertConfig(**text)), tokens),
        ("hf-distilbert", lambda: hf.DistilBertForSequenceClassification(hf.DistilBertConfig(
            vocab_size=99, dim=32, n_layers=2, n_heads=2, hidden_dim=37, **common)), tokens),
        ("hf-gpt2", lambda: hf.GPT2ForSequenceClassification(hf.GPT2Config(
            vocab_size=99, n_embd=32, n_layer=2, n_head=2, pad_token_id=0, **common)), tokens),
        ("hf-vit", lambda: hf.ViTForImageClassification(hf.ViTConfig(
            image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=37, **common)), pixels),
        ("hf-resnet", lambda: hf.ResNetForImageClassification(hf.ResNetConfig(
            embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], **common)), pixels),
        ("hf-convnext", lambda: hf.ConvNextForImageClassification(hf.ConvNextConfig(
            num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], **common)), pixels),
    ]  # fmt: skip
    for name, build, inputs in specs:
        try:
            yield name, _Logits(build()), inputs
        except Exception as exc:  # a config this transformers version does not take: say so, go on
            print(f"{name}: not built ({type(exc).__name__}: {exc})", file=sys.stderr)


def saved_forms(name: str, module: nn.Module, inputs: tuple[Tensor, ...], folder: Path) -> Iterator[Path]:
    """The module saved every way that works for it: script, trace, trace(strict=False), export."""
    module = module.eval()
    attempts: list[tuple[str, Callable[[Path], None]]] = [
        ("script.pt", lambda p: torch.jit.script(module).save(str(p))),
        ("trace.pt", lambda p: torch.jit.trace(module, inputs).save(str(p))),
        ("trace-nonstrict.pt", lambda p: torch.jit.trace(module, inputs, strict=False).save(str(p))),
        (
            "export.pt2",
            lambda p: torch.export.save(torch.export.export(module, inputs, strict=False), str(p)),
        ),
    ]
    for suffix, save in attempts:
        path = folder / f"{name}-{suffix}"
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                save(path)
        except Exception as exc:
            print(
                f"{path.name}: not saved ({type(exc).__name__}: {str(exc).splitlines()[0][:100]})",
                file=sys.stderr,
            )
            continue
        yield path


def archive_operators(path: Path, aten_names: frozenset[str]) -> set[str]:
    """Every operator the scanner's reader finds in one archive (allowed or not)."""
    from xai_cli.models.scanning.torch_export_graph import graph_targets, target_operator
    from xai_cli.models.scanning.torchscript_ops import (
        declared_attributes,
        defined_methods,
        operator_uses,
        parse_source,
    )

    found: set[str] = set()
    with zipfile.ZipFile(path) as archive:
        if path.suffix == ".pt2":
            import json

            for name in archive.namelist():
                if "/models/" in name and name.endswith(".json"):
                    for target, _ in graph_targets(json.loads(archive.read(name))):
                        found.add(target_operator(target)[0])
            return found
        modules = [parse_source(archive.read(n)) for n in archive.namelist() if n.lower().endswith(".py")]
        parsed = [m for m in modules if not isinstance(m, str)]
        assert len(parsed) == len(modules), f"{path}: code that does not parse"
        methods, attributes = defined_methods(parsed), declared_attributes(parsed)
        for module in parsed:
            uses = operator_uses(module, methods, aten_names, frozenset(), attributes)
            found.update(use.name for use in uses)
    return found


def registry() -> tuple[frozenset[str], frozenset[str]]:
    """(every qualified operator torch registers, every aten operator name)."""
    qualified = frozenset(schema.name for schema in torch._C._jit_get_all_schemas())
    return qualified, frozenset(name.split("::", 1)[1] for name in qualified if name.startswith("aten::"))


def derive() -> tuple[dict[str, set[str]], frozenset[str], frozenset[str]]:
    """(operators per zoo model, the allow-list, ATEN_NAMES)."""
    from xai_cli.models.scanning.torch_export_graph import GRAPH_BUILTINS
    from xai_cli.models.scanning.torch_operators import REFUSED_NAMESPACES, REFUSED_OPERATORS

    qualified, aten_names = registry()
    per_model: dict[str, set[str]] = {}
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name, module, inputs in [*plain_zoo(), *transformers_zoo()]:
            for path in saved_forms(name, module, inputs, Path(tmp)):
                per_model[path.name] = archive_operators(path, aten_names)
    for sample in sorted((ROOT / "sample_models").glob("*.pt")):
        per_model[f"sample_models/{sample.name}"] = archive_operators(sample, aten_names)
    observed = set().union(*per_model.values()) - GRAPH_BUILTINS
    curated = {f"aten::{op}" for ops in CURATED.values() for op in ops} | set(CURATED_PRIM)
    missing = sorted(op for op in curated if op.startswith("aten::") and op not in qualified)
    assert not missing, f"curated operators torch does not register: {missing}"
    allowed = observed | curated | set(CURATED_HIGHER_ORDER)
    bad = sorted(
        op
        for op in allowed
        if op in REFUSED_OPERATORS
        or (op.split("::")[0] in REFUSED_NAMESPACES and op not in CURATED_HIGHER_ORDER)
        or not op.split("::")[-1].replace("_", "a").replace(".", "a").isalnum()
    )
    if bad:
        print(f"not admitted (refused, or not an operator): {bad}", file=sys.stderr)
    return per_model, frozenset(allowed - set(bad)), aten_names


def render(allowed: frozenset[str], aten_names: frozenset[str], models: list[str]) -> str:
    """The text of torch_operator_list.py."""

    def block(names: frozenset[str]) -> str:
        lines, line = [], "   "
        for name in sorted(names):
            item = f' "{name}",'
            if len(line) + len(item) > 108:
                lines.append(line)
                line = "   "
            line += item
        return "\n".join([*lines, line])

    return (
        '"""The torch operators that networks use: generated by scripts/torch_operators.py, do not edit.\n\n'
        f"Derived with torch {torch.__version__} from the operators that the scanner's own reader finds in\n"
        f"{len(models)} saved networks (torch.jit.script, torch.jit.trace, trace(strict=False) and\n"
        "torch.export of ResNets, MobileNet/U-Net-style CNNs, 1-d/3-d CNNs, an MLP, LSTM/GRU,\n"
        "nn.TransformerEncoder, a ViT, "
        "the bundled samples and tiny transformers BERT/DistilBERT/GPT-2/ViT/ResNet/\n"
        "ConvNeXt), plus the same families' operators listed in that script (CURATED). File, process,\n"
        "network, profiler and "
        "printing operators are never admitted (torch_operators.REFUSED_OPERATORS /\n"
        "REFUSED_NAMESPACES).\n"
        '"""\n\n'
        "# fmt: off\n"
        f"ALLOWED_OPERATORS: frozenset[str] = frozenset({{\n{block(allowed)}\n}})\n\n"
        "# Every aten operator name torch registers: a method called by one of these names is that op.\n"
        f"ATEN_NAMES: frozenset[str] = frozenset({{\n{block(aten_names)}\n}})\n"
        "# fmt: on\n"
    )


def main() -> int:
    """Write (or, with --check, compare) the generated module."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the module is out of date")
    args = parser.parse_args()
    per_model, allowed, aten_names = derive()
    for name, ops in sorted(per_model.items()):
        print(f"{name}: {len(ops)} operators")
    text = render(allowed, aten_names, sorted(per_model))
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        print("up to date" if current == text else f"{OUTPUT} is out of date")
        return 0 if current == text else 1
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}: {len(allowed)} allowed operators, {len(aten_names)} aten names")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
