"""Chapter 2 exercises: group convolution, ResNeXt's grouped form, channel shuffle, the
ShuffleNet unit, and a training check of that unit on digits.

Conventions shared by the declarations below (and stated in the notebook):

* a grouped weight has shape ``(C_out, C_in / g, kH, kW)``; input channels
  ``[j·C_in/g, (j+1)·C_in/g)`` form group ``j`` and feed output channels
  ``[j·C_out/g, (j+1)·C_out/g)`` — contiguous groups, in order;
* ``channel_shuffle(x, g)`` reshapes channels to ``(g, C/g)``, transposes, flattens;
* a ShuffleNet unit takes ``params = (w1, b1, w2, b2, w3, b3)``: each batch norm of the paper's
  unit folded into the bias of the convolution before it (its inference-time form).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from convlab.models.small import SmallNet

from .spec import Attempt, Case, Diagnosis, Exercise, Outputs, Verdict
from .training import DigitsClassifierTraining, TrainableNet, seed_cases

CONV_APIS: tuple[str, ...] = (
    "torch.nn.functional.conv2d",
    "torch.conv2d",
    "torch.convolution",
    "torch._convolution",
    "torch.nn.Conv2d.forward",
    "convlab.functional.conv2d",
)
SHUFFLE_APIS: tuple[str, ...] = (
    "torch.nn.functional.channel_shuffle",
    "torch.channel_shuffle",
    "torch.native_channel_shuffle",
    "torch.nn.ChannelShuffle.forward",
    "convlab.functional.channel_shuffle",
)


# -- references (plain arrays in, plain arrays out; computed in float64 by convlab) -------------
def _t(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float64))


def _out(t: torch.Tensor, like: np.ndarray) -> np.ndarray:
    return t.detach().numpy().astype(like.dtype)


def _gconv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, groups: int,
           stride: int = 1, padding: int = 0) -> torch.Tensor:
    from convlab.functional import conv2d

    return conv2d(x, w, b, stride=stride, padding=padding, groups=groups)


def _shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    from convlab.functional import channel_shuffle

    return channel_shuffle(x, groups)


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
    ]
    cases = []
    for n, cin, cout, h, w, g, k, s, p, has_bias in specs:
        h, w = h + int(rng.integers(0, 3)), w + int(rng.integers(0, 3))  # sizes vary by seed
        x = rng.standard_normal((n, cin, h, w)).astype(np.float32)
        wt = rng.standard_normal((cout, cin // g, k, k)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32) if has_bias else None
        cases.append(Case((x, wt), {"bias": b, "groups": g, "stride": s, "padding": p},
                          label=f"C_in={cin}, C_out={cout}, groups={g}, k={k}, s={s}, p={p}"))
    return cases


def _group_conv_ref(case: Case, x: np.ndarray | None = None, bias: bool = True,
                    out_order: str | None = None) -> Outputs:
    x0, w = case.args
    kw = case.kwargs
    xin = x0 if x is None else x
    b = _t(kw["bias"]) if bias and kw["bias"] is not None else None
    y = _gconv(_t(xin), _t(w), None, kw["groups"], kw["stride"], kw["padding"])
    if out_order is not None:  # the channels land in the wrong places, the bias in the right
        y = torch.from_numpy(_regroup(y.numpy(), kw["groups"], out_order))
    if b is not None:
        y = y + b.view(1, -1, 1, 1)
    y = _out(y, x0)
    return (y,)


def _needs_groups(case: Case) -> int:
    g = case.kwargs["groups"]
    if g < 2:
        raise ValueError("a single group has no mapping to get wrong")
    return g


def _with_bias(case: Case) -> Case:
    if case.kwargs["bias"] is None:
        raise ValueError("no bias to forget in this case")
    return case


GROUP_CONV2D = Exercise(
    chapter="ch02",
    name="group_conv2d",
    entry="group_conv2d",
    points=25,
    make_cases=_group_conv_cases,
    reference=_group_conv_ref,
    forbidden=CONV_APIS,
    diagnoses=(
        Diagnosis(
            "group-mapping-reversed",
            "wrong group mapping: output group i reads input group g−1−i; output group i must "
            "read input group i (channels i·C_in/g … (i+1)·C_in/g − 1)",
            lambda c: _group_conv_ref(
                c, x=_regroup(c.args[0], _needs_groups(c), "reverse")),
        ),
        Diagnosis(
            "groups-interleaved",
            "wrong group mapping: the input channels were split into groups by stride "
            "(channel c in group c mod g); groups are contiguous blocks of C_in/g channels",
            lambda c: _group_conv_ref(
                c, x=_regroup(c.args[0], _needs_groups(c), "interleave")),
        ),
        Diagnosis(
            "outputs-interleaved",
            "wrong group mapping on the output side: group j's outputs were written to channels "
            "j, j+g, …; they belong in the contiguous block j·C_out/g … (j+1)·C_out/g − 1",
            lambda c: (_needs_groups(c), _group_conv_ref(c, out_order="spread"))[1],
        ),
        Diagnosis(
            "bias-missing",
            "the bias is missing: add bias[o] to every position of output channel o",
            lambda c: _group_conv_ref(_with_bias(c), bias=False),
        ),
    ),
    title="group convolution from primitives",
)


# -- 2. ResNeXt: form (a) branches → form (c) grouped convolution ------------------------------
def _resnext_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(4, 3, 8, 10), (2, 5, 6, 7), (8, 2, 16, 16)]  # (C cardinality, d width, C_in, C_out)
    cases = []
    for card, d, cin, cout in specs:
        w1 = rng.standard_normal((card, d, cin, 1, 1)).astype(np.float32)
        w2 = rng.standard_normal((card, d, d, 3, 3)).astype(np.float32)
        w3 = rng.standard_normal((card, cout, d, 1, 1)).astype(np.float32)
        cases.append(Case((w1, w2, w3), {}, label=f"C={card}, d={d}, C_in={cin}, C_out={cout}"))
    return cases


def resnext_form_a(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor,
                   w3: torch.Tensor) -> torch.Tensor:
    """ResNeXt's form (a): the sum over C branches of 1×1 → 3×3 → 1×1 (ReLU between).

    Shape:
        - x: ``(N, C_in, H, W)``; w1: ``(C, d, C_in, 1, 1)``; w2: ``(C, d, d, 3, 3)``;
          w3: ``(C, C_out, d, 1, 1)``
        - output: ``(N, C_out, H, W)`` = Σ_i T_i(x)
    """
    out = 0
    for i in range(w1.shape[0]):
        h = torch.relu(_gconv(x, w1[i], None, 1))  # (N, d, H, W)
        h = torch.relu(_gconv(h, w2[i], None, 1, padding=1))
        out = out + _gconv(h, w3[i], None, 1)  # (N, C_out, H, W)
    return out


def resnext_form_b(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor,
                   W3: torch.Tensor) -> torch.Tensor:
    """ResNeXt's form (b), early concatenation: the C branches' first two layers, their
    outputs concatenated, then one dense 1×1.

    Shape:
        - w1: ``(C, d, C_in, 1, 1)``; w2: ``(C, d, d, 3, 3)``; W3: ``(C_out, C·d, 1, 1)``
    """
    hs = [torch.relu(_gconv(torch.relu(_gconv(x, w1[i], None, 1)), w2[i], None, 1, padding=1))
          for i in range(w1.shape[0])]  # C tensors (N, d, H, W)
    return _gconv(torch.cat(hs, dim=1), W3, None, 1)  # (N, C·d, H, W) -> (N, C_out, H, W)


def resnext_form_c(x: torch.Tensor, W1: torch.Tensor, W2: torch.Tensor,
                   W3: torch.Tensor, cardinality: int) -> torch.Tensor:
    """ResNeXt's form (c): dense 1×1 → grouped 3×3 (``groups=C``) → dense 1×1.

    Shape:
        - W1: ``(C·d, C_in, 1, 1)``; W2: ``(C·d, d, 3, 3)``; W3: ``(C_out, C·d, 1, 1)``
    """
    h = torch.relu(_gconv(x, W1, None, 1))  # (N, C·d, H, W)
    h = torch.relu(_gconv(h, W2, None, cardinality, padding=1))
    return _gconv(h, W3, None, 1)  # (N, C_out, H, W)


def _resnext_ref(case: Case) -> Outputs:
    w1, w2, w3 = case.args
    card, d, cin = w1.shape[:3]
    cout = w3.shape[1]
    W1 = w1.reshape(card * d, cin, 1, 1)
    W2 = w2.reshape(card * d, d, 3, 3)
    W3 = w3[:, :, :, 0, 0].transpose(1, 0, 2).reshape(cout, card * d, 1, 1)
    return (W1, W2, W3)


def _resnext_w3_raw_reshape(case: Case) -> Outputs:
    w1, w2, w3 = case.args
    card, d = w1.shape[:2]
    W1, W2, _ = _resnext_ref(case)
    return (W1, W2, w3.reshape(w3.shape[1], card * d, 1, 1))


def _resnext_w2_dense(case: Case) -> Outputs:
    w1, w2, _ = case.args
    card, d = w1.shape[:2]
    W1, _, W3 = _resnext_ref(case)
    dense = np.zeros((card * d, card * d, 3, 3), dtype=w2.dtype)
    for i in range(card):
        dense[i * d:(i + 1) * d, i * d:(i + 1) * d] = w2[i]
    return (W1, dense, W3)


@dataclasses.dataclass(frozen=True)
class WeightMappingExercise(Exercise):
    """An exercise whose answer is a set of weights, judged by what they compute.

    After exact shape and dtype checks, the student's weights drive form (c) on a probe input
    fixed by the case, and pass when its output matches form (c) with the reference weights, so
    any mapping that computes the same function is accepted (the branches in another order, say).
    Diagnoses are matched on the weights themselves.
    """

    def judge(self, cases: Sequence[Case], attempts: Sequence[Attempt]) -> Verdict:
        from .compare import compare_outputs

        if len(attempts) != len(cases):
            return Verdict(False, f"expected {len(cases)} results, got {len(attempts)}")
        for i, (case, got) in enumerate(zip(cases, attempts, strict=True)):
            where = f"case {i + 1}/{len(cases)}" + (f" ({case.label})" if case.label else "")
            if isinstance(got, str):
                return Verdict(False, f"{where}: {got}")
            expected = self.reference(case)
            for d in self.diagnoses:
                alt = d.variant(case)
                if compare_outputs(got, alt, rtol=self.rtol, atol=self.atol) is None:
                    return Verdict(False, f"{where}: {d.message}", (f"mistake:{d.name}",))
            problem = compare_outputs(got, expected, rtol=np.inf, atol=np.inf)  # shapes, dtypes
            if problem is not None:
                return Verdict(False, f"{where}: {problem}")
            ref_out = _resnext_probe(case, None)
            got_out = _resnext_probe(case, got)
            problem = compare_outputs((got_out,), (ref_out,), rtol=self.rtol, atol=self.atol)
            if problem is not None:
                return Verdict(False, f"{where}: form (c) with these weights differs from form "
                                      f"(a): {problem.replace('the output', 'its output')}")
        return Verdict(True, f"all {len(cases)} cases: form (c) equals form (a)")


def _resnext_probe(case: Case, weights: Outputs | None) -> np.ndarray:
    """Form (c) with ``weights`` (form (a) with the case's branches when ``None``) on a probe
    input drawn from the case's own weights."""
    w1 = case.args[0]
    card, _, cin = w1.shape[:3]
    seed = int.from_bytes(hashlib.sha256(w1.tobytes()).digest()[:8], "big")
    x = _t(np.random.default_rng(seed).standard_normal((2, cin, 6, 5)))
    if weights is None:
        return resnext_form_a(x, *(_t(w) for w in case.args)).numpy()
    W1, W2, W3 = (_t(w) for w in weights)
    return resnext_form_c(x, W1, W2, W3, card).numpy()


RESNEXT_MAPPING = WeightMappingExercise(
    chapter="ch02",
    name="resnext_branches_to_grouped",
    entry="resnext_branches_to_grouped",
    points=15,
    make_cases=_resnext_cases,
    reference=_resnext_ref,
    forbidden=(),
    diagnoses=(
        Diagnosis(
            "w3-reshaped-without-permute",
            "the last 1×1 weight was reshaped from (C, C_out, d) straight to (C_out, C·d): that "
            "mixes branches and output channels; move the branch axis next to d first",
            _resnext_w3_raw_reshape,
        ),
        Diagnosis(
            "w2-dense-block-diagonal",
            "the 3×3 weight is the dense block-diagonal (C·d, C·d, 3, 3) matrix; a grouped "
            "convolution with groups=C stores only the diagonal blocks: (C·d, d, 3, 3)",
            _resnext_w2_dense,
        ),
    ),
    rtol=1e-4,
    atol=1e-3,
    title="ResNeXt form (a) → form (c)",
)


# -- 3. channel shuffle ---------------------------------------------------------------------
def _shuffle_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(2, 12, 3, 4, 3), (1, 8, 2, 3, 3), (2, 15, 5, 2, 4), (1, 6, 3, 5, 5)]
    return [
        Case((rng.standard_normal((n, c, h + int(rng.integers(0, 3)), w)).astype(np.float32), g),
             {},
             label=f"C={c}, groups={g}")
        for n, c, g, h, w in specs  # C/g ≠ g in every case, so the two transposes differ
    ]


def _shuffle_ref(case: Case, groups: int | None = None) -> Outputs:
    x, g = case.args
    return (_out(_shuffle(_t(x), g if groups is None else groups), x),)


CHANNEL_SHUFFLE = Exercise(
    chapter="ch02",
    name="channel_shuffle",
    entry="channel_shuffle",
    points=15,
    make_cases=_shuffle_cases,
    reference=_shuffle_ref,
    forbidden=SHUFFLE_APIS,
    diagnoses=(
        Diagnosis(
            "shuffle-transposed-wrong-way",
            "the shuffle is transposed the wrong way: it reshaped the channels to (C/g, g) "
            "instead of (g, C/g), which is the inverse permutation (a shuffle with C/g groups)",
            lambda c: _shuffle_ref(c, groups=c.args[0].shape[1] // c.args[1]),
        ),
        Diagnosis(
            "shuffle-identity",
            "the channels come back in their original order: reshape to (N, g, C/g, H, W), "
            "swap the two channel axes, and flatten back (a reshape alone moves nothing)",
            lambda c: (c.args[0],),
        ),
    ),
    atol=0.0,
    rtol=0.0,
    title="channel shuffle",
)


# -- 4. the ShuffleNet unit -------------------------------------------------------------------
def shufflenet_unit_reference(
    x: torch.Tensor,
    params: Sequence[torch.Tensor],
    groups: int,
    stride: int,
    *,
    shuffle: bool = True,
    shuffle_groups: int | None = None,
    shortcut: bool = True,
    relu_after_dw: bool = False,
    concat_branch_first: bool = False,
) -> torch.Tensor:
    """The ShuffleNet unit (Zhang et al., 2018, Fig. 2b/2c) with batch norm folded into biases.

    Branch: 1×1 group conv (``w1, b1``, ``groups``) → ReLU → channel shuffle (``groups``) →
    3×3 depthwise conv (``w2, b2``, ``stride``, padding 1) → 1×1 group conv (``w3, b3``).
    Stride 1: ``ReLU(x + branch(x))``. Stride 2: ``ReLU(cat[avgpool3×3,s2,p1(x), branch(x)])``.
    The keyword flags build the typical mistakes the feedback names.

    Shape:
        - x: ``(N, C_in, H, W)``; w1: ``(M, C_in/g, 1, 1)``; w2: ``(M, 1, 3, 3)``;
          w3: ``(C_b, M/g, 1, 1)`` with ``C_b = C_in`` (stride 1) or ``C_out − C_in`` (stride 2)
        - output: ``(N, C_in, H, W)`` (stride 1) or ``(N, C_in + C_b, ⌈H/2⌉, ⌈W/2⌉)`` (stride 2)
    """
    w1, b1, w2, b2, w3, b3 = params
    h = torch.relu(_gconv(x, w1, b1, groups))  # (N, M, H, W)
    if shuffle:
        h = _shuffle(h, groups if shuffle_groups is None else shuffle_groups)
    h = _gconv(h, w2, b2, w2.shape[0], stride, 1)  # (N, M, H', W') depthwise
    if relu_after_dw:
        h = torch.relu(h)
    h = _gconv(h, w3, b3, groups)  # (N, C_b, H', W')
    if not shortcut:
        return torch.relu(h)
    if stride == 1:
        return torch.relu(x + h)
    pooled = torch.nn.functional.avg_pool2d(x, 3, 2, 1)  # (N, C_in, H', W')
    parts = (h, pooled) if concat_branch_first else (pooled, h)
    return torch.relu(torch.cat(parts, dim=1))  # (N, C_in + C_b, H', W')


def unit_params(rng: np.random.Generator, c_in: int, c_out: int, mid: int, groups: int,
                stride: int, dtype: Any = np.float32) -> tuple[np.ndarray, ...]:
    """Random ``(w1, b1, w2, b2, w3, b3)`` of a ShuffleNet unit, He-scaled by fan-in."""
    c_b = c_in if stride == 1 else c_out - c_in
    shapes = [(mid, c_in // groups, 1, 1), (mid, 1, 3, 3), (c_b, mid // groups, 1, 1)]
    out: list[np.ndarray] = []
    for shape in shapes:
        fan_in = int(np.prod(shape[1:]))
        out.append((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype))
        out.append((0.1 * rng.standard_normal(shape[0])).astype(dtype))
    return tuple(out)


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
        params = unit_params(rng, cin, cout, mid, g, s)
        cases.append(Case((x, params, g, s), {},
                          label=f"stride {s}, C_in={cin}, C_out={cout}, groups={g}"))
    return cases


def _unit_ref(case: Case, **flags: Any) -> Outputs:
    x, params, g, s = case.args
    y = shufflenet_unit_reference(_t(x), tuple(_t(p) for p in params), g, s, **flags)
    return (_out(y, x),)


def _only_stride(case: Case, stride: int) -> Case:
    if case.args[3] != stride:
        raise ValueError("this mistake shows only at the other stride")
    return case


SHUFFLENET_UNIT = Exercise(
    chapter="ch02",
    name="shufflenet_unit",
    entry="shufflenet_unit_forward",
    points=25,
    make_cases=_unit_cases,
    reference=_unit_ref,
    forbidden=SHUFFLE_APIS + ("convlab.blocks.ShuffleNetUnit.forward",),
    diagnoses=(
        Diagnosis(
            "missing-residual-add",
            "the residual add is missing (stride 1): the unit returns ReLU(x + branch(x))",
            lambda c: _unit_ref(_only_stride(c, 1), shortcut=False),
        ),
        Diagnosis(
            "missing-concat-shortcut",
            "the concat shortcut is missing (stride 2): concatenate the 3×3 average-pooled "
            "input (stride 2, padding 1) before the branch, then ReLU",
            lambda c: _unit_ref(_only_stride(c, 2), shortcut=False),
        ),
        Diagnosis(
            "concat-order",
            "the stride-2 concatenation is in the other order: the pooled shortcut comes first, "
            "then the branch",
            lambda c: _unit_ref(_only_stride(c, 2), concat_branch_first=True),
        ),
        Diagnosis(
            "missing-shuffle",
            "the channel shuffle is missing: shuffle the first group conv's output (g groups) "
            "before the depthwise conv",
            lambda c: _unit_ref(c, shuffle=False),
        ),
        Diagnosis(
            "shuffle-transposed-wrong-way",
            "the shuffle inside the unit is transposed the wrong way (it used M/g groups "
            "instead of g)",
            lambda c: _unit_ref(c, shuffle_groups=c.args[1][0].shape[0] // c.args[2]),
        ),
        Diagnosis(
            "relu-after-depthwise",
            "a ReLU follows the depthwise conv; ShuffleNet has none there (only after the first "
            "1×1 group conv and after the merge)",
            lambda c: _unit_ref(c, relu_after_dw=True),
        ),
    ),
    title="the ShuffleNet unit",
)


# -- 5. the training check ------------------------------------------------------------------
UnitFn = Callable[..., torch.Tensor]


class ShuffleDigitsNet(SmallNet):
    """A small ShuffleNet for the 8×8 digits whose two units call an injected function.

    ``conv3×3(1→C) → ReLU → unit(stride 2, C→2C) → unit(stride 1, 2C→2C) → flatten →
    linear(2C·4·4 → 10)``, each unit ``unit(x, (w1, b1, w2, b2, w3, b3), groups, stride)`` with
    ``C/2`` bottleneck channels (default :func:`shufflenet_unit_reference`). Weights are drawn
    from ``seed`` (He-scaled normal; :func:`unit_params` for the units).

    Shape:
        - Input: ``(N, 1, 8, 8)``; output: ``(N, 10)`` logits
    """

    def __init__(self, unit: UnitFn | None = None, channels: int = 12, groups: int = 3,
                 seed: int = 0) -> None:
        super().__init__()
        if channels % (2 * groups):
            raise ValueError(f"channels ({channels}) must be divisible by 2·groups ({2 * groups})")
        rng = np.random.default_rng(seed)
        self.unit = shufflenet_unit_reference if unit is None else unit
        self.groups = groups
        c, mid = channels, channels // 2

        def param(a: np.ndarray) -> nn.Parameter:
            return nn.Parameter(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)))

        self.stem_w = param(rng.standard_normal((c, 1, 3, 3)) * np.sqrt(2 / 9))
        self.stem_b = param(np.zeros(c))
        self.unit1 = nn.ParameterList(param(p) for p in unit_params(rng, c, 2 * c, mid, groups, 2))
        self.unit2 = nn.ParameterList(
            param(p) for p in unit_params(rng, 2 * c, 2 * c, mid, groups, 1))
        self.fc_w = param(rng.standard_normal((10, 32 * c)) / np.sqrt(32 * c))
        self.fc_b = param(np.zeros(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(_gconv(x, self.stem_w, self.stem_b, 1, 1, 1))  # (N, C, 8, 8)
        h = self.unit(h, tuple(self.unit1), self.groups, 2)  # (N, 2C, 4, 4)
        h = self.unit(h, tuple(self.unit2), self.groups, 1)  # (N, 2C, 4, 4)
        return torch.nn.functional.linear(h.flatten(1), self.fc_w, self.fc_b)  # (N, 10)


@functools.lru_cache(maxsize=8)
def _reference_run(seed: int, steps: int, batch_size: int, lr: float,
                   device: str) -> tuple[np.ndarray, tuple[tuple[str, np.ndarray], ...]]:
    losses, weights = _train_shuffle_net(None, seed, steps, batch_size, lr, torch.device(device))
    return losses, tuple(weights.items())


def _train_shuffle_net(unit: UnitFn | None, seed: int, steps: int, batch_size: int, lr: float,
                       device: torch.device) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from convlab.data import digits_loaders
    from convlab.train import fit

    net = ShuffleDigitsNet(unit, seed=seed)
    train, _ = digits_loaders(batch_size=batch_size, seed=seed)
    history = fit(net, train, None, steps=steps, lr=lr, device=device, seed=seed, progress=False)
    return np.asarray(history.train_loss, dtype=np.float32), net.state_arrays()


@dataclasses.dataclass(frozen=True)
class UnitTrainingExercise(DigitsClassifierTraining):
    """The student's ShuffleNet unit trains :class:`ShuffleDigitsNet` on the digits.

    The same contract as chapter 1's training check: ``run`` (in the worker) trains the network
    built on the student's ``shufflenet_unit_forward`` for ``steps_gpu`` SGD steps on a GPU or
    ``steps_cpu`` on the CPU and returns the loss curve and the final weights; ``judge`` (in the
    grader) trains the reference network from the same seed on the same batches, requires the
    two curves, smoothed over ``window`` steps, to stay within ``curve_atol``, then loads the
    returned weights into a network built on the *reference* unit and requires its test
    accuracy to reach the bar (weights trained through a wrong unit do not work in the right one).
    """

    steps_cpu: int = 100
    accuracy_bar_cpu: float = 0.8
    accuracy_bar_gpu: float = 0.9

    weights_note: ClassVar[str] = " (in the reference unit)"

    def make_net(self, seed: int) -> TrainableNet:
        return ShuffleDigitsNet(seed=seed)

    def _train(self, unit: UnitFn | None, seed: int, steps: int,
               device: torch.device) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return _train_shuffle_net(unit, seed, steps, self.batch_size, self.lr, device)

    def _reference_losses(self, seed: int, steps: int) -> np.ndarray:
        from convlab.train import pick_device

        reference, _ = _reference_run(seed, steps, self.batch_size, self.lr, str(pick_device()))
        return reference

    def divergence_message(self, step: int, losses: np.ndarray, reference: np.ndarray,
                           mine: np.ndarray, ref: np.ndarray) -> str:
        return (super().divergence_message(step, losses, reference, mine, ref)
                + "; check the unit against its visible check first")


TRAIN_SHUFFLENET = UnitTrainingExercise(
    chapter="ch02",
    name="train_shufflenet",
    entry="shufflenet_unit_forward",
    points=20,
    make_cases=seed_cases("a small ShuffleNet on the digits"),
    forbidden=SHUFFLE_APIS + ("convlab.blocks.ShuffleNetUnit.forward",),
)


EXERCISES: tuple[Exercise, ...] = (
    GROUP_CONV2D,
    RESNEXT_MAPPING,
    CHANNEL_SHUFFLE,
    SHUFFLENET_UNIT,
    TRAIN_SHUFFLENET,
)
