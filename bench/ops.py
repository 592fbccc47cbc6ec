"""Time convlab's from-scratch operators against PyTorch's, as ratios convlab / torch.

For each layer shape (batch 8, float32) the forward pass and the forward + backward pass of a
:mod:`convlab.functional` op are timed against its PyTorch counterpart, in the same process with
the same threads and inputs: warm-up calls first, then repeats that alternate the two
implementations, and the median of each. A ratio of 1.0 means as fast as PyTorch; issue 12's
targets are marked on their rows (dense 3×3: forward ≤ 1.2, forward + backward ≤ 1.3).

The pairs: ``conv2d`` / ``F.conv2d`` (dense, 1×1 pointwise, depthwise, grouped),
``conv_transpose2d`` / ``F.conv_transpose2d``, ``max_pool2d`` / ``F.max_pool2d``, ``avg_pool2d`` /
``F.avg_pool2d``, ``batch_norm2d`` / ``F.batch_norm`` (training, running buffers updated) and
``deform_conv2d`` / ``F.conv2d`` of the same shape: PyTorch has no deformable convolution (it is
torchvision's), so its row compares with the closest PyTorch op, a plain convolution, and its
ratio is the price of the bilinear sampling (random offsets; the backward pass includes the
offset gradient). Every pair is checked for agreement before it is timed (the deformable one
with zero offsets, where it equals the convolution).

The table is printed with the machine (CPU model, cores, torch version, threads, GPU) and
written to ``_build/bench/ops.json``.

Usage: ``python -m bench.ops [--device cpu|cuda] [--quick] [--threads N] [--out PATH]
[--only TEXT] [--clock wall|cpu] [--public-gemm]`` (``--only`` times the rows whose name
contains TEXT; ``--clock cpu`` times the process's CPU time instead of the wall clock, which on
a shared machine leaves out the time other processes hold the cores, best with ``--threads 1``;
``--public-gemm`` sends every matrix product of :mod:`convlab.functional.im2col` through
``torch.matmul`` instead of oneDNN's inner product; ``python -m bench.ops`` runs this section
alone.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from convlab.functional import (
    avg_pool2d,
    batch_norm2d,
    conv2d,
    conv_transpose2d,
    deform_conv2d,
    im2col,
    max_pool2d,
)

#: Ratio (convlab / torch) of CPU forward time the dense 3×3 layers must stay under at worst.
TARGET_RATIO = 1.2
#: The speed targets of the reference operators (issue 12, CPU): (forward, forward + backward)
#: ratio per kind of row; None where no target is set.
DENSE_TARGET = (1.2, 1.3)
GROUPED_TARGET = (1.5, 1.5)
TRANSPOSED_TARGET = (1.2, None)
DEFAULT_OUT = Path("_build/bench/ops.json")


@dataclass(frozen=True)
class Case:
    """One layer: the op, its input (N, C, H, W), weight shape (if any) and keyword arguments."""

    name: str
    op: str  # a key of OPS
    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    target: tuple[float | None, float | None] = (None, None)  # (forward, forward + backward)


Tensors = list[torch.Tensor]


@dataclass(frozen=True)
class OpPair:
    """How to time one op: build its tensors, call convlab's and PyTorch's version.

    ``inputs(case, gen, device)`` returns the tensors both calls take (all of them are
    differentiated in the forward + backward timing); ``ours`` and ``ref`` take those tensors and
    the case's keyword arguments. ``check`` returns the two outputs that must agree.
    """

    inputs: Callable[[Case, torch.Generator, torch.device], Tensors]
    ours: Callable[..., torch.Tensor]
    ref: Callable[..., torch.Tensor]
    check: Callable[[Tensors, dict[str, Any]], tuple[torch.Tensor, torch.Tensor]] | None = None


def _randn(shape: Sequence[int], gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randn(tuple(shape), generator=gen, device=device)


def _conv_inputs(case: Case, gen: torch.Generator, device: torch.device) -> Tensors:
    assert case.w_shape is not None
    groups = case.kwargs.get("groups", 1)
    c_out = case.w_shape[0] if case.op != "conv_transpose2d" else case.w_shape[1] * groups
    return [_randn(case.x_shape, gen, device), _randn(case.w_shape, gen, device),
            _randn((c_out,), gen, device)]


def _x_only(case: Case, gen: torch.Generator, device: torch.device) -> Tensors:
    return [_randn(case.x_shape, gen, device)]


def _bn_inputs(case: Case, gen: torch.Generator, device: torch.device) -> Tensors:
    c = case.x_shape[1]
    return [_randn(case.x_shape, gen, device) * 2 + 1, _randn((c,), gen, device),
            _randn((c,), gen, device)]


def _deform_inputs(case: Case, gen: torch.Generator, device: torch.device) -> Tensors:
    x, w, b = _conv_inputs(case, gen, device)
    assert case.w_shape is not None
    ref = F.conv2d(x, w, b, **case.kwargs)
    kh, kw = case.w_shape[2:]
    offset = _randn((x.shape[0], 2 * kh * kw, *ref.shape[2:]), gen, device)
    return [x, w, b, offset]


def _batch_norm_pair() -> OpPair:
    """Training-mode batch norm; each side updates its own running buffers on every call."""
    buffers: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def running(side: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if side not in buffers or buffers[side][0].shape[0] != x.shape[1]:
            c = x.shape[1]
            buffers[side] = (x.new_zeros(c), x.new_ones(c))
        return buffers[side]

    def ours(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, **kw: Any) -> torch.Tensor:
        return batch_norm2d(x, w, b, *running("ours", x), training=True, **kw)

    def ref(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, **kw: Any) -> torch.Tensor:
        return F.batch_norm(x, *running("ref", x), w, b, training=True, **kw)

    return OpPair(_bn_inputs, ours, ref)


def _deform_check(t: Tensors, kw: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    x, w, b, offset = t
    return deform_conv2d(x, torch.zeros_like(offset), w, b, **kw), F.conv2d(x, w, b, **kw)


OPS: dict[str, OpPair] = {
    "conv2d": OpPair(_conv_inputs, conv2d, F.conv2d),
    "conv_transpose2d": OpPair(_conv_inputs, conv_transpose2d, F.conv_transpose2d),
    "max_pool2d": OpPair(_x_only, max_pool2d, F.max_pool2d),
    "avg_pool2d": OpPair(_x_only, avg_pool2d, F.avg_pool2d),
    "batch_norm2d": _batch_norm_pair(),
    "deform_conv2d": OpPair(
        _deform_inputs,
        lambda x, w, b, offset, **kw: deform_conv2d(x, offset, w, b, **kw),
        lambda x, w, b, offset, **kw: F.conv2d(x, w, b, **kw),
        _deform_check,
    ),
}

CASES = (
    Case("3x3 64->64 @56", "conv2d", (8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1),
         DENSE_TARGET),
    Case("3x3 128->128 @28", "conv2d", (8, 128, 28, 28), (128, 128, 3, 3), dict(padding=1),
         DENSE_TARGET),
    Case("3x3 256->256 @14", "conv2d", (8, 256, 14, 14), (256, 256, 3, 3), dict(padding=1),
         DENSE_TARGET),
    Case("1x1 256->64 @28", "conv2d", (8, 256, 28, 28), (64, 256, 1, 1)),
    Case("depthwise 3x3 128 @28", "conv2d", (8, 128, 28, 28), (128, 1, 3, 3),
         dict(padding=1, groups=128), GROUPED_TARGET),
    Case("grouped 3x3 128->128 g32 @28", "conv2d", (8, 128, 28, 28), (128, 4, 3, 3),
         dict(padding=1, groups=32), GROUPED_TARGET),
    Case("transposed 4x4 s2 64->32 @28", "conv_transpose2d", (8, 64, 28, 28), (64, 32, 4, 4),
         dict(stride=2, padding=1), TRANSPOSED_TARGET),
    Case("max pool 3x3 s2 64 @56", "max_pool2d", (8, 64, 56, 56), None,
         dict(kernel_size=3, stride=2, padding=1)),
    Case("avg pool 2x2 s2 128 @28", "avg_pool2d", (8, 128, 28, 28), None,
         dict(kernel_size=2)),
    Case("batch norm train 64 @56", "batch_norm2d", (8, 64, 56, 56)),
    Case("deform 3x3 64->64 @28 (vs F.conv2d)", "deform_conv2d", (8, 64, 28, 28),
         (64, 64, 3, 3), dict(padding=1)),
)


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


def cpu_seconds() -> float:
    """CPU time (user + system, all threads) this process has used so far, in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


#: The clocks ``--clock`` chooses between.
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": cpu_seconds}


def time_pair(
    fns: tuple[Callable[[], object], Callable[[], object]],
    device: torch.device,
    repeats: int,
    warmup: int,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float]:
    """Median seconds of each of two functions, their calls alternating so drift hits both."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(warmup + repeats):
        for fn, acc in zip(fns, times, strict=True):
            _sync(device)
            start = clock()
            fn()
            _sync(device)
            if i >= warmup:
                acc.append(clock() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def run_case(
    case: Case, device: torch.device, repeats: int, warmup: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Forward and forward + backward timings of convlab and torch on one layer."""
    gen = torch.Generator(device=device).manual_seed(0)
    pair = OPS[case.op]
    tensors = pair.inputs(case, gen, device)
    ours, ref, kw = pair.ours, pair.ref, case.kwargs
    a, b = pair.check(tensors, kw) if pair.check else (ours(*tensors, **kw), ref(*tensors, **kw))
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)
    with torch.no_grad():
        fwd = time_pair((lambda: ours(*tensors, **kw), lambda: ref(*tensors, **kw)),
                        device, repeats, warmup, clock)
    leaves = [t.clone().requires_grad_() for t in tensors]
    grad = torch.randn(ref(*tensors, **kw).shape, generator=gen, device=device)

    def step(fn: Callable[..., torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            for t in leaves:
                t.grad = None
            fn(*leaves, **kw).backward(grad)

        return run

    both = time_pair((step(ours), step(ref)), device, repeats, warmup, clock)
    return {
        "name": case.name,
        "op": case.op,
        "x_shape": list(case.x_shape),
        "w_shape": None if case.w_shape is None else list(case.w_shape),
        "kwargs": case.kwargs,
        "forward_s": {"convlab": fwd[0], "torch": fwd[1]},
        "forward_backward_s": {"convlab": both[0], "torch": both[1]},
        "forward_ratio": fwd[0] / fwd[1],
        "forward_backward_ratio": both[0] / both[1],
        "target": list(case.target),
    }


def _mark(ratio: float, target: float | None) -> str:
    """``ok`` or ``OVER`` against a target ratio, blank without one."""
    if target is None:
        return ""
    return "ok" if ratio <= target else "OVER"


def format_table(info: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The results as a fixed-width text table headed by the machine description.

    Each row with a target (issue 12's, on the CPU) is marked ``ok`` or ``OVER`` after its
    ratio, and the last lines sum the verdicts up.
    """
    head = ", ".join(f"{k}: {v}" for k, v in info.items())
    lines = [
        f"convlab / torch time ratios, float32, median of repeats ({head})",
        f"{'layer':<36} {'fwd ms':>9} {'torch':>8} {'ratio':>6} {'':4}   "
        f"{'f+b ms':>9} {'torch':>8} {'ratio':>6} {'':4}  target",
    ]
    over = []
    for r in rows:
        f, fb = r["forward_s"], r["forward_backward_s"]
        target = r.get("target") or [None, None]
        marks = (_mark(r["forward_ratio"], target[0]),
                 _mark(r["forward_backward_ratio"], target[1]))
        over += [f"{r['name']} ({kind})" for kind, mark in zip(("fwd", "f+b"), marks,
                                                                 strict=True) if mark == "OVER"]
        wanted = "/".join("-" if t is None else f"{t:g}" for t in target)
        lines.append(
            f"{r['name']:<36} {f['convlab'] * 1e3:>9.2f} {f['torch'] * 1e3:>8.2f} "
            f"{r['forward_ratio']:>6.2f} {marks[0]:<4}   {fb['convlab'] * 1e3:>9.2f} "
            f"{fb['torch'] * 1e3:>8.2f} {r['forward_backward_ratio']:>6.2f} {marks[1]:<4}  "
            f"{wanted if any(t is not None for t in target) else ''}"
        )
    dense = [r["forward_ratio"] for r in rows if r["name"].startswith("3x3")]
    worst = max(dense, default=float("nan"))
    verdict = "within" if worst <= TARGET_RATIO else "OVER"
    where = "" if info["device"] == "cpu" else " (the targets are set for the CPU)"
    lines.append(
        f"worst forward ratio of the dense 3x3 layers {worst:.2f}: {verdict} the bound of "
        f"{TARGET_RATIO}{where}"
    )
    lines.append("rows over their target: " + (", ".join(over) if over else "none"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse the arguments, run every case, print the table and write the JSON file."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--only", default=None, help="time only the rows whose name has this")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall (default) or cpu: the process's CPU time")
    parser.add_argument("--public-gemm", action="store_true",
                        help="products through torch.matmul, not oneDNN's inner product")
    args, _ = parser.parse_known_args(argv)
    if args.public_gemm:
        im2col.ONEDNN_PRODUCTS = False
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
    clock_name = "wall" if device.type == "cuda" else args.clock  # GPU time is wall time
    info["clock"] = clock_name
    info["products"] = "oneDNN" if im2col.ONEDNN_PRODUCTS else "torch.matmul"
    rows = []
    for case in CASES:
        if args.only is not None and args.only not in case.name:
            continue
        rows.append(run_case(case, device, repeats, warmup, CLOCKS[clock_name]))
        print(f"  timed {case.name}", flush=True)
    print(format_table(info, rows))
    result = {"machine": info, "repeats": repeats, "warmup": warmup, "cases": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")
    return result


if __name__ == "__main__":
    main()


#: The rows of ``python -m bench``'s one table (issue 12's operators), by case name:
#: what issue 12 says they cost today (one range per kind of layer; it does not say which
#: pass) — None where it gives no figure.
TABLE_CASES: dict[str, str | None] = {
    "3x3 64->64 @56": "1.65–2.65×",
    "3x3 128->128 @28": "1.65–2.65×",
    "3x3 256->256 @14": "1.65–2.65×",
    "grouped 3x3 128->128 g32 @28": "4.6–13× (noisy)",
    "depthwise 3x3 128 @28": "4.6–5.2×",
    "transposed 4x4 s2 64->32 @28": None,
}


def table_rows(*, device: str = "cpu", quick: bool = False,
               clock: str = "wall") -> list[dict[str, Any]]:
    """The operator rows of ``python -m bench``'s table: for each case of
    :data:`TABLE_CASES`, the forward and the forward + backward ratio convlab / PyTorch, with
    today's figure and the target. ``quick``: 2 repeats after 1 warm-up (a smoke run)."""
    dev = torch.device(device)
    repeats, warmup = (2, 1) if quick else (15, 3)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        repeats, warmup = repeats * 4, warmup * 4
    torch.manual_seed(0)
    rows = []
    for case in CASES:
        if case.name not in TABLE_CASES:
            continue
        r = run_case(case, dev, repeats, warmup, CLOCKS["wall" if dev.type == "cuda" else clock])
        today = TABLE_CASES[case.name]
        for kind, ratio, target in (("forward", r["forward_ratio"], case.target[0]),
                                    ("forward+backward", r["forward_backward_ratio"],
                                     case.target[1])):
            rows.append({"section": "operators (convlab / PyTorch time)",
                         "measure": f"{case.op} {case.name.replace('->', '→')}, {kind}",
                         "value": f"{ratio:.2f}×", "today": today or "—",
                         "target": "—" if target is None else f"≤ {target:g}×",
                         "raw": ratio})
    return rows
