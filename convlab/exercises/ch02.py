"""Chapter 2 exercises (``notebooks/ch02/group_convolution.ipynb``), in notebook order.

Conventions stated in the notebook: a grouped weight has shape ``(C_out, C_in / g, kH, kW)``;
input channels ``[j·C_in/g, (j+1)·C_in/g)`` form group ``j`` and feed output channels
``[j·C_out/g, (j+1)·C_out/g)``; ``channel_shuffle(x, g)`` reshapes channels to ``(g, C/g)``,
transposes, flattens; a ShuffleNet unit takes ``params = (w1, b1, w2, b2, w3, b3)``, each batch
norm folded into the bias of the convolution before it. References run in float64 on convlab.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import numpy as np
import torch

from convlab.blocks.resnext import resnext_form_a, resnext_form_c
from convlab.functional import channel_shuffle as _shuffle
from convlab.functional import conv2d as _conv2d
from convlab.models.small import (
    ShuffleDigitsNet,
    SmallNet,
    shufflenet_unit_reference,
    unit_params,
)

from .apis import CONV, SHUFFLE, forbid
from .arrays import f64, like
from .compare import compare_outputs
from .spec import Case, Mistake, Outputs, declare, exercise
from .training import ModuleCheck, Training, Uniform, module_case, module_training, slip

UNIT_APIS = forbid(SHUFFLE, "convlab.blocks.ShuffleNetUnit.forward")


def _regroup(x: np.ndarray, groups: int, how: str) -> np.ndarray:
    """Reorder channel blocks: ``reverse`` (group j ↔ g−1−j), ``interleave`` (gather: block j
    holds channels j, j+g, j+2g, …, the strided split instead of the contiguous one) or
    ``spread`` (scatter: block j's channels go to j, j+g, j+2g, …)."""
    n, c = x.shape[:2]
    blocks = x.reshape(n, groups, c // groups, *x.shape[2:])
    if how == "reverse":
        return blocks[:, ::-1].reshape(x.shape)
    if how == "spread":
        return np.ascontiguousarray(blocks.swapaxes(1, 2)).reshape(x.shape)
    strided = x.reshape(n, c // groups, groups, *x.shape[2:]).swapaxes(1, 2)
    return np.ascontiguousarray(strided).reshape(x.shape)


# -- 1. group convolution ------------------------------------------------------------------
def _group_conv_cases(rng: np.random.Generator) -> list[Case]:
    specs = [  # (N, C_in, C_out, H, W, groups, k, stride, padding, bias)
        (2, 6, 9, 7, 6, 3, 3, 1, 1, True),
        (1, 4, 6, 5, 5, 2, 1, 1, 0, True),
        (2, 8, 8, 9, 8, 4, 3, 2, 0, False),
        (1, 3, 6, 6, 6, 3, 3, 1, 1, True),  # depthwise, channel multiplier 2
        (2, 5, 4, 5, 4, 1, 2, 1, 0, True),  # groups=1 is a dense convolution
        (1, 4, 2, 5, 7, 2, (3, 1), 2, 1, True),  # non-square kernel, one filter per group
    ]
    cases = []
    for n, cin, cout, h, w, g, k, s, p, has_bias in specs:
        h, w = h + int(rng.integers(0, 3)), w + int(rng.integers(0, 3))  # sizes vary by seed
        kh, kw = k if isinstance(k, tuple) else (k, k)
        cases.append(Case.of(
            f"C_in={cin}, C_out={cout}, groups={g}, k={kh}×{kw}, s={s}, p={p}",
            x=rng.standard_normal((n, cin, h, w)).astype(np.float32),
            weight=rng.standard_normal((cout, cin // g, kh, kw)).astype(np.float32),
            bias=rng.standard_normal(cout).astype(np.float32) if has_bias else None,
            groups=g, stride=s, padding=p))
    return cases


def _group_conv_ref(c: Case, regroup_x: str | None = None, bias: bool = True,
                    out_order: str | None = None) -> Outputs:
    x = c.x if regroup_x is None else _regroup(c.x, c.groups, regroup_x)
    y = _conv2d(f64(x), f64(c.weight), None, c.stride, c.padding, groups=c.groups)
    if out_order is not None:  # the channels land in the wrong places, the bias in the right
        y = torch.from_numpy(_regroup(y.numpy(), c.groups, out_order))
    if bias and c.bias is not None:
        y = y + f64(c.bias).view(1, -1, 1, 1)
    return (like(y, c.x),)


def _grouped(c: Case) -> bool:
    return c.groups > 1  # a single group has no mapping to get wrong


@exercise(points=25, cases=_group_conv_cases, reference=_group_conv_ref, forbidden=forbid(CONV),
          mistakes=(
              Mistake("group-mapping-reversed",
                      "wrong group mapping: output group i reads input group g−1−i; output "
                      "group i must read input group i (channels i·C_in/g … (i+1)·C_in/g − 1)",
                      lambda c: _group_conv_ref(c, regroup_x="reverse"), when=_grouped),
              Mistake("groups-interleaved",
                      "wrong group mapping: the input channels were split into groups by stride "
                      "(channel c in group c mod g); groups are contiguous blocks of C_in/g "
                      "channels",
                      lambda c: _group_conv_ref(c, regroup_x="interleave"), when=_grouped),
              Mistake("outputs-interleaved",
                      "wrong group mapping on the output side: group j's outputs were written "
                      "to channels j, j+g, …; they belong in the contiguous block j·C_out/g … "
                      "(j+1)·C_out/g − 1",
                      lambda c: _group_conv_ref(c, out_order="spread"), when=_grouped),
              Mistake("bias-missing",
                      "the bias is missing: add bias[o] to every position of output channel o",
                      lambda c: _group_conv_ref(c, bias=False),
                      when=lambda c: c.bias is not None)),
          title="group convolution from primitives",
          covers="groups 1 (dense) to 4, depthwise with a channel multiplier, 1×1, 2×2, 3×3 and "
                 "non-square kernels, stride 1–2, padding 0–1, bias or none, batch 1 and 2",
          summary="a grouped convolution from primitives (im2col and one batched product, or a "
                  "loop over groups), no convolution API")
def group_conv2d(x, weight, bias=None, groups=1, stride=1, padding=0):
    """Grouped 2-D convolution (cross-correlation), built without any convolution API.

    Inputs:
    - x: input, a float tensor of shape (N, C_in, H, W)
    - weight: filters, of shape (C_out, C_in // groups, kH, kW)
    - bias: None or a tensor of shape (C_out,)
    - groups: int g >= 1 dividing both C_in and C_out; input channels
      [j*C_in/g, (j+1)*C_in/g) feed output channels [j*C_out/g, (j+1)*C_out/g)
    - stride: int s >= 1; padding: int p >= 0 zeros on every side

    Returns:
    - out: (N, C_out, H_out, W_out), H_out = (H + 2p - kH) // s + 1 (likewise W_out), with
      out[b, o, i, l] = bias[o]
                        + sum_{c,u,v} x_pad[b, j*m + c, i*s + u, l*s + v] * weight[o, c, u, v]
      where m = C_in // g and j = o // (C_out // g).

    Ours is about 12 lines.
    """


# -- 2. ResNeXt: form (a) branches → form (c) grouped convolution ------------------------------
def _resnext_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(4, 3, 8, 10), (2, 5, 6, 7), (8, 2, 16, 16)]  # (C cardinality, d width, C_in, C_out)
    return [Case.of(f"C={card}, d={d}, C_in={cin}, C_out={cout}",
                    w1=rng.standard_normal((card, d, cin, 1, 1)).astype(np.float32),
                    w2=rng.standard_normal((card, d, d, 3, 3)).astype(np.float32),
                    w3=rng.standard_normal((card, cout, d, 1, 1)).astype(np.float32))
            for card, d, cin, cout in specs]


def _resnext_ref(c: Case, raw_w3: bool = False, dense_w2: bool = False) -> Outputs:
    card, d, cin = c.w1.shape[:3]
    cout = c.w3.shape[1]
    W2 = c.w2.reshape(card * d, d, 3, 3)
    if dense_w2:  # the block-diagonal dense weight
        W2 = np.zeros((card * d, card * d, 3, 3), dtype=c.w2.dtype)
        for i in range(card):
            W2[i * d:(i + 1) * d, i * d:(i + 1) * d] = c.w2[i]
    W3 = (c.w3.reshape(cout, card * d, 1, 1) if raw_w3 else
          c.w3[:, :, :, 0, 0].transpose(1, 0, 2).reshape(cout, card * d, 1, 1))
    return (c.w1.reshape(card * d, cin, 1, 1), W2, W3)


def _same_block(c: Case, got: Outputs) -> str | None:
    """Exact shapes and dtypes, then form (c) with ``got`` on a probe input drawn from the
    case's own weights must equal form (a): any mapping that computes the same block passes
    (the branches in another order, say)."""
    problem = compare_outputs(got, _resnext_ref(c), rtol=np.inf, atol=np.inf)
    if problem is not None:
        return problem
    seed = int.from_bytes(hashlib.sha256(c.w1.tobytes()).digest()[:8], "big")
    x = f64(np.random.default_rng(seed).standard_normal((2, c.w1.shape[2], 6, 5)))
    a = resnext_form_a(x, f64(c.w1), f64(c.w2), f64(c.w3)).numpy()
    mine = resnext_form_c(x, *(f64(w) for w in got), c.w1.shape[0]).numpy()
    problem = compare_outputs((mine,), (a,), rtol=1e-4, atol=1e-3)
    return problem and ("form (c) with these weights differs from form (a): "
                        + problem.replace("the output", "its output"))


@exercise(points=15, cases=_resnext_cases, reference=_resnext_ref, check=_same_block,
          rtol=1e-4, atol=1e-3,
          mistakes=(
              Mistake("w3-reshaped-without-permute",
                      "the last 1×1 weight was reshaped from (C, C_out, d) straight to (C_out, "
                      "C·d): that mixes branches and output channels; move the branch axis next "
                      "to d first",
                      lambda c: _resnext_ref(c, raw_w3=True)),
              Mistake("w2-dense-block-diagonal",
                      "the 3×3 weight is the dense block-diagonal (C·d, C·d, 3, 3) matrix; a "
                      "grouped convolution with groups=C stores only the diagonal blocks: "
                      "(C·d, d, 3, 3)",
                      lambda c: _resnext_ref(c, dense_w2=True))),
          title="ResNeXt form (a) → form (c)", covers="cardinality 2–8, widths 2–5, C_in ≠ C_out",
          summary="ResNeXt's form (a) weights rearranged into form (c); graded by what the block "
                  "computes", name="resnext_branches_to_grouped")
def resnext_branches_to_grouped(w1, w2, w3):
    """ResNeXt form (a) weights -> form (c) weights (dense 1x1, grouped 3x3, dense 1x1).

    Inputs:
    - w1: (C, d, C_in, 1, 1), the first 1x1 conv of each of the C branches
    - w2: (C, d, d, 3, 3), the 3x3 conv of each branch
    - w3: (C, C_out, d, 1, 1), the last 1x1 conv of each branch

    Returns a tuple (W1, W2, W3):
    - W1: (C*d, C_in, 1, 1); W1[i*d + k] = w1[i, k]
    - W2: (C*d, d, 3, 3), the weight of a conv with groups=C; W2[i*d + k] = w2[i, k]
    - W3: (C_out, C*d, 1, 1); W3[o, i*d + k] = w3[i, o, k]
    so that conv1x1(W3) . relu . conv3x3(W2, groups=C) . relu . conv1x1(W1) equals
    sum_i conv1x1(w3[i]) . relu . conv3x3(w2[i]) . relu . conv1x1(w1[i]).

    Ours is 5 lines.
    """


# -- 3. channel shuffle ---------------------------------------------------------------------
def _shuffle_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(2, 12, 3, 4, 3), (1, 8, 2, 3, 3), (2, 15, 5, 2, 4), (1, 6, 3, 5, 5)]
    return [Case.of(f"C={c}, groups={g}", groups=g, x=rng.standard_normal(
                (n, c, h + int(rng.integers(0, 3)), w)).astype(np.float32))
            for n, c, g, h, w in specs]  # C/g ≠ g in every case, so the two transposes differ


def _shuffle_ref(c: Case, groups: int | None = None) -> Outputs:
    return (like(_shuffle(f64(c.x), c.groups if groups is None else groups), c.x),)


@exercise(points=15, cases=_shuffle_cases, reference=_shuffle_ref, forbidden=forbid(SHUFFLE),
          atol=0.0, rtol=0.0,
          mistakes=(
              Mistake("shuffle-transposed-wrong-way",
                      "the shuffle is transposed the wrong way: it reshaped the channels to "
                      "(C/g, g) instead of (g, C/g), which is the inverse permutation (a shuffle "
                      "with C/g groups)",
                      lambda c: _shuffle_ref(c, groups=c.x.shape[1] // c.groups)),
              Mistake("shuffle-identity",
                      "the channels come back in their original order: reshape to (N, g, C/g, "
                      "H, W), swap the two channel axes, and flatten back (a reshape alone moves "
                      "nothing)",
                      lambda c: (c.x,))),
          title="channel shuffle", covers="groups 2–5 with C/g ≠ g, batch 1 and 2",
          summary="the shuffle as reshape, transpose, flatten, without the library's")
def channel_shuffle(x, groups):
    """ShuffleNet's channel shuffle.

    Inputs:
    - x: (N, C, H, W) tensor
    - groups: int g dividing C

    Returns:
    - (N, C, H, W), the channels permuted: out[:, i*g + j] = x[:, j*(C//g) + i]
      for 0 <= j < g, 0 <= i < C//g (reshape to (N, g, C//g, H, W), swap dims 1 and 2, flatten).

    Ours is 2 lines.
    """


# -- 4. the ShuffleNet unit -------------------------------------------------------------------
def _unit_cases(rng: np.random.Generator) -> list[Case]:
    specs = [  # (N, C_in, C_out, M, groups, stride, H, W)
        (2, 12, 12, 6, 3, 1, 6, 5),
        (2, 12, 24, 6, 3, 2, 7, 7),
        (1, 8, 8, 6, 2, 1, 5, 5),
        (2, 6, 18, 12, 3, 2, 6, 5),
    ]
    cases = []
    for n, cin, cout, mid, g, s, h, w in specs:
        h, w = h + int(rng.integers(0, 3)), w + int(rng.integers(0, 3))  # odd and even sizes
        x = rng.standard_normal((n, cin, h, w)).astype(np.float32)
        cases.append(Case.of(f"stride {s}, C_in={cin}, C_out={cout}, groups={g}", x=x,
                             params=unit_params(rng, cin, cout, mid, g, s), groups=g, stride=s))
    return cases


def _unit_ref(c: Case, **flags: object) -> Outputs:
    y = shufflenet_unit_reference(f64(c.x), tuple(f64(p) for p in c.params), c.groups,
                                  c.stride, **flags)
    return (like(y, c.x),)


@exercise(points=25, cases=_unit_cases, reference=_unit_ref, forbidden=UNIT_APIS,
          mistakes=(
              Mistake("missing-residual-add",
                      "the residual add is missing (stride 1): the unit returns "
                      "ReLU(x + branch(x))",
                      lambda c: _unit_ref(c, shortcut=False), when=lambda c: c.stride == 1),
              Mistake("missing-concat-shortcut",
                      "the concat shortcut is missing (stride 2): concatenate the 3×3 "
                      "average-pooled input (stride 2, padding 1) before the branch, then ReLU",
                      lambda c: _unit_ref(c, shortcut=False), when=lambda c: c.stride == 2),
              Mistake("concat-order",
                      "the stride-2 concatenation is in the other order: the pooled shortcut "
                      "comes first, then the branch",
                      lambda c: _unit_ref(c, concat_branch_first=True),
                      when=lambda c: c.stride == 2),
              Mistake("missing-shuffle",
                      "the channel shuffle is missing: shuffle the first group conv's output (g "
                      "groups) before the depthwise conv",
                      lambda c: _unit_ref(c, shuffle=False)),
              Mistake("shuffle-transposed-wrong-way",
                      "the shuffle inside the unit is transposed the wrong way (it used M/g "
                      "groups instead of g)",
                      lambda c: _unit_ref(c, shuffle_groups=c.params[0].shape[0] // c.groups)),
              Mistake("relu-after-depthwise",
                      "a ReLU follows the depthwise conv; ShuffleNet has none there (only after "
                      "the first 1×1 group conv and after the merge)",
                      lambda c: _unit_ref(c, relu_after_dw=True))),
          title="the ShuffleNet unit", name="shufflenet_unit",
          covers="stride 1 and 2, groups 2 and 3, odd and even sizes, batch 1 and 2",
          summary="the ShuffleNet unit's forward pass at stride 1 and stride 2")
def shufflenet_unit_forward(x, params, groups, stride):
    """Forward pass of a ShuffleNet v1 unit (batch norm folded into the biases).

    Inputs:
    - x: (N, C_in, H, W)
    - params: tuple (w1, b1, w2, b2, w3, b3) with
        w1: (M, C_in // g, 1, 1), b1: (M,)      1x1 group conv, groups=g
        w2: (M, 1, 3, 3),         b2: (M,)      3x3 depthwise conv, stride s, padding 1
        w3: (C_b, M // g, 1, 1),  b3: (C_b,)    1x1 group conv, groups=g
    - groups: int g
    - stride: 1 or 2

    Returns:
    - stride 1: relu(x + branch(x)), shape (N, C_in, H, W)
    - stride 2: relu(cat([avg_pool2d(x, 3, 2, 1), branch(x)], dim=1)),
      shape (N, C_in + C_b, ceil(H/2), ceil(W/2))
    where branch = conv(w3, b3, g) . dwconv(w2, b2, s) . channel_shuffle(g) . relu . conv(w1, b1, g)

    Ours is about 10 lines.
    """


# -- 5. the training check: the unit as a module of your own ----------------------------------
def _he_bound(fan_in: int) -> float:
    """He (Kaiming) uniform for ReLU: ``U(−b, b)`` with ``b = √(6 / fan_in)``."""
    return math.sqrt(6.0 / fan_in)


def _unit_layout(in_channels: int, out_channels: int, groups: int,
                 stride: int) -> dict[str, tuple[int, ...]]:
    """The unit's parameters by name and shape: bottleneck ``M = C_out // 4``, branch output
    ``C_b = C_in`` (stride 1) or ``C_out − C_in`` (stride 2)."""
    mid = out_channels // 4
    c_b = in_channels if stride == 1 else out_channels - in_channels
    return {"w1": (mid, in_channels // groups, 1, 1), "b1": (mid,), "w2": (mid, 1, 3, 3),
            "b2": (mid,), "w3": (c_b, mid // groups, 1, 1), "b3": (c_b,)}


class _ReferenceShuffleUnit(torch.nn.Module):
    """convlab's answer to :class:`ShuffleUnit`: the unit of the reference network."""

    def __init__(self, in_channels: int, out_channels: int, groups: int,
                 stride: int = 1) -> None:
        super().__init__()
        self.groups, self.stride = groups, stride
        shapes = _unit_layout(in_channels, out_channels, groups, stride)
        for i in "123":
            w, b = shapes["w" + i], shapes["b" + i]
            fan_in = math.prod(w[1:])
            setattr(self, "w" + i, torch.nn.Parameter(
                torch.empty(w).uniform_(-_he_bound(fan_in), _he_bound(fan_in))))
            setattr(self, "b" + i, torch.nn.Parameter(
                torch.empty(b).uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = tuple(getattr(self, n) for n in ("w1", "b1", "w2", "b2", "w3", "b3"))
        return shufflenet_unit_reference(x, params, self.groups, self.stride)


class UnitShuffleDigitsNet(SmallNet):
    """:class:`~convlab.models.small.ShuffleDigitsNet` with its units as modules:
    ``unit(12, 24, 3, 2)`` and ``unit(24, 24, 3, 1)`` (convlab's when ``None``), starting from
    ShuffleDigitsNet's initial weights for ``seed``.

    Shape: ``(N, 1, 8, 8)`` → ``(N, 10)`` logits.
    """

    def __init__(self, unit: Callable[..., torch.nn.Module] | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        unit = _ReferenceShuffleUnit if unit is None else unit
        start = ShuffleDigitsNet(seed=seed).state_arrays()
        self.stem_w = torch.nn.Parameter(torch.from_numpy(start["stem_w"]))
        self.stem_b = torch.nn.Parameter(torch.from_numpy(start["stem_b"]))
        self.unit1 = unit(12, 24, 3, 2)  # (N, 12, 8, 8) -> (N, 24, 4, 4)
        self.unit2 = unit(24, 24, 3, 1)  # (N, 24, 4, 4) -> (N, 24, 4, 4)
        self.fc_w = torch.nn.Parameter(torch.from_numpy(start["fc_w"]))
        self.fc_b = torch.nn.Parameter(torch.from_numpy(start["fc_b"]))
        names = ("w1", "b1", "w2", "b2", "w3", "b3")  # ShuffleDigitsNet's unit1.0 … unit1.5
        self.load_arrays({
            (f"{name.split('.')[0]}.{names[int(name.split('.')[1])]}" if "." in name else name): a
            for name, a in start.items()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(_conv2d(x, self.stem_w, self.stem_b, padding=1))  # (N, 12, 8, 8)
        h = self.unit2(self.unit1(h))  # (N, 24, 4, 4)
        return torch.nn.functional.linear(h.flatten(1), self.fc_w, self.fc_b)  # (N, 10)


def _unit_module_cases(rng: np.random.Generator) -> list[Case]:
    """Three units with at least 96 bottleneck channels (so a bias's extremes come close to its
    bound): stride 2 with 3 groups, stride 1 with 4, stride 2 with 2."""
    cases = []
    for c_in, c_out, g, s in ((24, 408, 3, 2), (400, 400, 4, 1), (16, 400, 2, 2)):
        if s == 1:
            c_in = c_out = c_out + 16 * int(rng.integers(0, 3))
        h, w = (int(v) for v in rng.integers(4, 8, size=2))
        x = rng.standard_normal((2, c_in, h, w)).astype(np.float32)
        out_hw = (h, w) if s == 1 else ((h + 1) // 2, (w + 1) // 2)
        cases.append(module_case(
            f"ShuffleUnit({c_in}, {c_out}, groups={g}, stride={s}) on x of shape {x.shape}",
            {"in_channels": c_in, "out_channels": c_out, "groups": g, "stride": s}, x=x,
            dout=rng.standard_normal((2, c_out, *out_hw)).astype(np.float32),
            seed=int(rng.integers(0, 2**31 - 1))))
    return cases


def _unit_module_shapes(c: Case) -> dict[str, tuple[int, ...]]:
    return _unit_layout(**dict(c.build))


def _unit_shape_slips(c: Case) -> dict[str, tuple[tuple[str, tuple[int, ...]], ...]]:
    b = dict(c.build)
    c_in, c_out, g = b["in_channels"], b["out_channels"], b["groups"]
    slips = {"w1": (("bottleneck-width", (c_in // 4, c_in // g, 1, 1)),)}
    if b["stride"] == 2:
        slips["w3"] = (("branch-width", (c_out, c_out // 4 // g, 1, 1)),)
    return slips


def _unit_module_init(c: Case) -> dict[str, Uniform]:
    b = dict(c.build)
    shapes, g = _unit_layout(**b), b["groups"]
    rules = {}
    for i in "123":
        fan_in = math.prod(shapes["w" + i][1:])
        slips: dict[str, int] = (  # the fan-in each slip uses instead
            {"depthwise-fan-in": shapes["w2"][0] * 9} if i == "2" else
            {"fan-in-ignores-groups": fan_in * g})
        rules["w" + i] = Uniform(_he_bound(fan_in), (
            *((name, _he_bound(f)) for name, f in slips.items()),
            ("gain-missing", math.sqrt(3.0 / fan_in))))
        rules["b" + i] = Uniform(1 / math.sqrt(fan_in), (
            *((name, 1 / math.sqrt(f)) for name, f in slips.items()),
            ("bias-with-the-weight-bound", _he_bound(fan_in))), zero="bias-not-initialised")
    return rules


def _unit_module_forward(c: Case, params: dict[str, np.ndarray]) -> np.ndarray:
    b = dict(c.build)
    y = shufflenet_unit_reference(f64(c.x), tuple(f64(params[n]) for n in _unit_layout(**b)),
                                  b["groups"], b["stride"])
    return like(y, c.x)


UNIT_CHECK = ModuleCheck(
    make_cases=_unit_module_cases, parameters=_unit_module_shapes, init=_unit_module_init,
    forward=_unit_module_forward, shape_slips=_unit_shape_slips,
    mistakes=(
        slip("bottleneck-width",
             "the bottleneck has M = C_out / 4 channels, a quarter of the unit's output, not "
             "of its input"),
        slip("branch-width",
             "at stride 2 the branch ends in C_out − C_in channels: the concatenation adds the "
             "C_in pooled input channels to make C_out"),
        slip("fan-in-ignores-groups",
             "the bound fits a dense convolution's fan-in, C_in·k·k; a group convolution's "
             "filter sees only its group's C_in / g channels, so fan_in = (C_in / g)·k·k"),
        slip("depthwise-fan-in",
             "the bound fits fan_in = M·3·3; a depthwise filter sees one channel, so its "
             "fan_in = 1·3·3 = 9"),
        slip("gain-missing",
             "the bound is √(3 / fan_in), without ReLU's gain √2: He uniform is √(6 / fan_in)"),
        slip("bias-with-the-weight-bound",
             "the bias is drawn with the weight's bound √(6 / fan_in); its rule is "
             "U(−1/√fan_in, 1/√fan_in)"),
        slip("bias-not-initialised",
             "the bias was never initialised (all zeros): draw it from U(−1/√fan_in, "
             "1/√fan_in) with its convolution's fan_in"),
        slip("not-registered",
             "assign each of w1, b1, w2, b2, w3, b3 as an nn.Parameter attribute of self; "
             "tensors kept in a plain list or tuple are invisible to module.parameters()")))


@module_training(points=20, name="train_shufflenet", module=UNIT_CHECK, forbidden=UNIT_APIS,
                 training=Training(net=UnitShuffleDigitsNet, steps=100, lr=0.05, bar=0.8,
                                   stand_ins=(("channel_shuffle", _shuffle),)),
                 title="the unit as a module of your own, trained",
                 covers="three hidden units (stride 2 with 3 and 2 groups, stride 1 with 4 "
                        "groups, 96 to 112 bottleneck channels): parameter shapes and count, "
                        "the initialisation rule with grouped and depthwise fan-ins, the "
                        "output, the gradient of every parameter; then a small ShuffleNet "
                        "built on two of your units",
                 summary="your unit as an nn.Module that sizes its six parameters from the "
                         "channels and initialises them by each convolution's own fan-in, "
                         "checked on hidden shapes, then trained in a small ShuffleNet; the "
                         "loss curve must track the reference's and the accuracy clear a bar")
class ShuffleUnit(torch.nn.Module):
    """A ShuffleNet v1 unit with parameters of its own, around your shufflenet_unit_forward.

    Args:
    - in_channels: int C_in; out_channels: int C_out (C_out == C_in at stride 1)
    - groups: int g; stride: 1 or 2

    Parameters, registered (module.parameters() yields them) and drawn when the unit is built,
    with the bottleneck M = C_out // 4 and the branch's output C_b = C_in (stride 1) or
    C_out - C_in (stride 2):
    - self.w1: (M, C_in // g, 1, 1), self.b1: (M,)      1x1 group conv, groups=g
    - self.w2: (M, 1, 3, 3),         self.b2: (M,)      3x3 depthwise conv
    - self.w3: (C_b, M // g, 1, 1),  self.b3: (C_b,)    1x1 group conv, groups=g
    Each weight from U(-sqrt(6 / fan_in), sqrt(6 / fan_in)) (He uniform), each bias from
    U(-1 / sqrt(fan_in), 1 / sqrt(fan_in)), fan_in being what one output value of that
    convolution sums: (input channels per group) * kH * kW.

    forward(x): shufflenet_unit_forward(x, (w1, b1, w2, b2, w3, b3), g, stride); the gradient
    must reach all six.

    Write the rest of __init__ and a forward method. Ours is about 12 lines.
    """

    def __init__(self, in_channels, out_channels, groups, stride=1):
        super().__init__()


EXERCISES = declare(__name__, group_conv2d, resnext_branches_to_grouped, channel_shuffle,
                    shufflenet_unit_forward, ShuffleUnit)
