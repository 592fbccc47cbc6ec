"""Time convlab's from-scratch convolutions against PyTorch's, as ratios convlab / torch.

For each layer shape (batch 8, float32) the forward pass and the forward + backward pass of
:func:`convlab.functional.conv2d` / :func:`~convlab.functional.conv_transpose2d` are timed
against ``torch.nn.functional.conv2d`` / ``conv_transpose2d``, in the same process with the same
threads and inputs: warm-up calls first, then repeats that alternate the two implementations,
and the median of each. A ratio of 1.0 means as fast as PyTorch; the target is ≤ 2.0.

The table is printed with the machine (CPU model, cores, torch version, threads, GPU) and
written to ``_build/bench/ops.json``.

Usage: ``python -m bench [--device cpu|cuda] [--quick] [--threads N] [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from convlab.functional import conv2d, conv_transpose2d

#: Ratio (convlab / torch) of CPU forward time the dense 3×3 layers aim to stay under.
TARGET_RATIO = 2.0
DEFAULT_OUT = Path("_build/bench/ops.json")


@dataclass(frozen=True)
class Case:
    """One layer: input (N, C, H, W), weight shape and keyword arguments of the op."""

    name: str
    op: str  # "conv2d" or "conv_transpose2d"
    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def out_channels(self) -> int:
        groups = self.kwargs.get("groups", 1)
        return self.w_shape[0] if self.op == "conv2d" else self.w_shape[1] * groups


CASES = (
    Case("3x3 64->64 @56", "conv2d", (8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1)),
    Case("3x3 128->128 @28", "conv2d", (8, 128, 28, 28), (128, 128, 3, 3), dict(padding=1)),
    Case("3x3 256->256 @14", "conv2d", (8, 256, 14, 14), (256, 256, 3, 3), dict(padding=1)),
    Case("1x1 256->64 @28", "conv2d", (8, 256, 28, 28), (64, 256, 1, 1)),
    Case("depthwise 3x3 128 @28", "conv2d", (8, 128, 28, 28), (128, 1, 3, 3),
         dict(padding=1, groups=128)),
    Case("grouped 3x3 128->128 g32 @28", "conv2d", (8, 128, 28, 28), (128, 4, 3, 3),
         dict(padding=1, groups=32)),
    Case("transposed 4x4 s2 64->32 @28", "conv_transpose2d", (8, 64, 28, 28), (64, 32, 4, 4),
         dict(stride=2, padding=1)),
)

OPS: dict[str, tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]] = {
    "conv2d": (conv2d, F.conv2d),
    "conv_transpose2d": (conv_transpose2d, F.conv_transpose2d),
}


def machine(device: torch.device) -> dict[str, Any]:
    """What the timings were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["tf32"] = torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32
    return info


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_pair(
    fns: tuple[Callable[[], object], Callable[[], object]],
    device: torch.device,
    repeats: int,
    warmup: int,
) -> tuple[float, float]:
    """Median seconds of each of two functions, their calls alternating so drift hits both."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(warmup + repeats):
        for fn, acc in zip(fns, times, strict=True):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            if i >= warmup:
                acc.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def run_case(case: Case, device: torch.device, repeats: int, warmup: int) -> dict[str, Any]:
    """Forward and forward + backward timings of convlab and torch on one layer."""
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(case.x_shape, generator=gen, device=device)
    w = torch.randn(case.w_shape, generator=gen, device=device)
    b = torch.randn(case.out_channels, generator=gen, device=device)
    ours, ref = OPS[case.op]
    torch.testing.assert_close(ours(x, w, b, **case.kwargs), ref(x, w, b, **case.kwargs),
                               rtol=1e-3, atol=1e-3)
    with torch.no_grad():
        fwd = time_pair(
            (lambda: ours(x, w, b, **case.kwargs), lambda: ref(x, w, b, **case.kwargs)),
            device, repeats, warmup,
        )
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    grad = torch.randn(ref(x, w, b, **case.kwargs).shape, generator=gen, device=device)

    def step(fn: Callable[..., torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            for t in leaves:
                t.grad = None
            fn(*leaves, **case.kwargs).backward(grad)

        return run

    both = time_pair((step(ours), step(ref)), device, repeats, warmup)
    return {
        "name": case.name,
        "op": case.op,
        "x_shape": list(case.x_shape),
        "w_shape": list(case.w_shape),
        "kwargs": case.kwargs,
        "forward_s": {"convlab": fwd[0], "torch": fwd[1]},
        "forward_backward_s": {"convlab": both[0], "torch": both[1]},
        "forward_ratio": fwd[0] / fwd[1],
        "forward_backward_ratio": both[0] / both[1],
    }


def format_table(info: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The results as a fixed-width text table headed by the machine description."""
    head = ", ".join(f"{k}: {v}" for k, v in info.items())
    lines = [
        f"convlab / torch time ratios, float32, median of repeats ({head})",
        f"{'layer':<30} {'fwd ms':>9} {'torch':>8} {'ratio':>6}   "
        f"{'f+b ms':>9} {'torch':>8} {'ratio':>6}",
    ]
    for r in rows:
        f, fb = r["forward_s"], r["forward_backward_s"]
        lines.append(
            f"{r['name']:<30} {f['convlab'] * 1e3:>9.2f} {f['torch'] * 1e3:>8.2f} "
            f"{r['forward_ratio']:>6.2f}   {fb['convlab'] * 1e3:>9.2f} "
            f"{fb['torch'] * 1e3:>8.2f} {r['forward_backward_ratio']:>6.2f}"
        )
    dense = [r["forward_ratio"] for r in rows if r["name"].startswith("3x3")]
    worst = max(dense, default=float("nan"))
    verdict = "within" if worst <= TARGET_RATIO else "OVER"
    where = "" if info["device"] == "cpu" else " (the target is set for the CPU)"
    lines.append(
        f"worst forward ratio of the dense 3x3 layers {worst:.2f}: {verdict} the target of "
        f"{TARGET_RATIO}{where}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse the arguments, run every case, print the table and write the JSON file."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args, _ = parser.parse_known_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA device is available")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    repeats, warmup = (5, 1) if args.quick else (15, 3)
    if device.type == "cuda":
        repeats, warmup = repeats * 4, warmup * 4
    torch.manual_seed(0)
    info = machine(device)
    rows = []
    for case in CASES:
        rows.append(run_case(case, device, repeats, warmup))
        print(f"  timed {case.name}", flush=True)
    print(format_table(info, rows))
    result = {"machine": info, "repeats": repeats, "warmup": warmup, "cases": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")
    return result
