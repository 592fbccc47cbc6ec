"""Do the full-size networks have their papers' layer sizes and published cost figures?"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from convlab.analysis import count_macs, count_params
from convlab.models import (
    MODELS,
    PAPER_FIGURES,
    googlenet,
    inception_bn,
    inception_v3,
    mobilenet_v1,
    mobilenet_v2,
    paper_figures,
    resnet50,
    resnext50_32x4d,
    shufflenet_v1,
)
from convlab.models.shufflenet import stage_channels

IMAGE = (1, 3, 224, 224)


@pytest.fixture(scope="module")
def rows() -> dict[str, dict]:
    return {row["model"]: row for row in paper_figures()}


def _on_meta(build: Callable[[], nn.Module]) -> nn.Module:
    with torch.device("meta"):
        return build()


def _output_shapes(model: nn.Module, kind: type[nn.Module]) -> list[tuple[int, ...]]:
    """Output shapes of every ``kind`` module, in call order, for one meta 224×224 image."""
    shapes: list[tuple[int, ...]] = []
    hooks = [m.register_forward_hook(lambda _m, _a, out: shapes.append(tuple(out.shape)))
             for m in model.modules() if type(m) is kind]
    with torch.no_grad():
        model.eval()(torch.zeros(IMAGE, device="meta"))
    for h in hooks:
        h.remove()
    return shapes


_MATCHES = [(name, kind) for name, f in PAPER_FIGURES.items() for kind in ("params", "macs")
            if getattr(f, kind) is not None and getattr(f, f"{kind}_match")]


@pytest.mark.parametrize(("name", "kind"), _MATCHES)
def test_counts_within_one_percent_of_the_paper(rows: dict, name: str, kind: str) -> None:
    assert abs(rows[name][f"{kind}_diff"]) <= 0.01, rows[name]


def test_every_miss_is_explained(rows: dict) -> None:
    for name, figure in PAPER_FIGURES.items():
        for kind in ("params", "macs"):
            if getattr(figure, kind) is not None and not getattr(figure, f"{kind}_match"):
                assert abs(rows[name][f"{kind}_diff"]) > 0.01 and figure.note, name
    assert {"resnext50_32x4d", "shufflenet_v1_g3", "mobilenet_v1"} <= {n for n, _ in _MATCHES}


def test_shufflenet_conv_macs_round_to_table1(rows: dict) -> None:
    # Table 1 prints whole MFLOPs: the conv-only counts round to them for every g ...
    for g, mflops in ((1, 143), (2, 140), (3, 137), (4, 133), (8, 137)):
        assert round(rows[f"shufflenet_v1_g{g}"]["macs_as_paper"] / 1e6 + 1e-9) == mflops
    # ... while counting the classifier too would miss g = 2, 4 and 8
    missed = [g for g in (2, 4, 8) if round(rows[f"shufflenet_v1_g{g}"]["macs"] / 1e6)
              != round(PAPER_FIGURES[f"shufflenet_v1_g{g}"].macs / 1e6)]
    assert missed == [2, 4, 8]


def test_googlenet_table1_first_layer_is_separable() -> None:
    from convlab.models.stems import separable_stem

    plain, separable = _on_meta(googlenet), _on_meta(lambda: googlenet(separable_stem=True))
    assert plain.stem[0][0].weight.numel() == 7 * 7 * 3 * 64
    stem = _on_meta(lambda: separable_stem(norm_layer=None))
    weights = sum(p.numel() for n, p in stem.named_parameters() if n.endswith("weight"))
    assert weights == 2712 and round(weights / 1000, 1) == 2.7  # Table 1: "2.7K"
    assert round(count_macs(stem, IMAGE) / 1e6) == 34  # Table 1: "34M"
    # Table 1's params column in units of 1,024: the total, "6.8M", within 1 %
    total = sum(p.numel() for n, p in separable.named_parameters() if n.endswith("weight"))
    assert abs(total / 1024 / 6800 - 1) < 0.01


def test_googlenet_auxiliary_classifiers() -> None:
    from convlab.models import GoogLeNetOutputs
    from convlab.models.googlenet import AuxClassifier

    plain, aux = _on_meta(googlenet), _on_meta(lambda: googlenet(aux_logits=True))
    assert plain.aux1 is None and plain.aux2 is None
    assert not any(isinstance(m, AuxClassifier) for m in plain.modules())
    # Section 5: 5×5/3 avg pool, 1×1 conv (128) + ReLU, FC 1024 + ReLU, dropout 0.7, FC
    for head, c_in in ((aux.aux1, 512), (aux.aux2, 528)):
        pool, conv, _, fc1, _, drop, fc2 = head
        assert (pool.kernel_size, pool.stride) == (5, 3) and conv[0].out_channels == 128
        assert conv[0].in_channels == c_in and conv[0].bias is not None
        assert (fc1.in_features, fc1.out_features, drop.p) == (2048, 1024, 0.7)
        assert fc2.out_features == 1000
    heads = [c_in * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000 for c_in in (512, 528)]
    assert count_params(aux) - count_params(plain) == sum(heads) == 3_188_840 + 3_190_888
    # inference discards them: the counted multiply-adds are the same
    assert count_macs(aux, IMAGE) == count_macs(plain, IMAGE)
    assert count_macs(aux.aux1, (1, 512, 14, 14)) == 128 * 16 * 512 + 2048 * 1024 + 1024 * 1000
    x = torch.zeros(2, 3, 224, 224, device="meta")
    out = aux.train()(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert out.logits.shape == out.aux1.shape == out.aux2.shape == (2, 1000)
    assert aux.eval()(x).shape == plain.train()(x).shape == (2, 1000)
    with pytest.raises(TypeError, match="aux_logits"):
        googlenet(aux_logits="yes")  # type: ignore[arg-type]


def test_googlenet_aux_heads_read_4a_and_4d() -> None:
    torch.manual_seed(0)
    model = googlenet(num_classes=3, aux_logits=True).train()
    for m in model.modules():  # dropout off, so the heads can be recomputed exactly
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        out = model(x)
        y = model.pool3(model.inception3(model.stem(x)))
        after_4a = model.inception4[0](y)
        after_4d = model.inception4[3](model.inception4[2](model.inception4[1](after_4a)))
        torch.testing.assert_close(out.aux1, model.aux1(after_4a))
        torch.testing.assert_close(out.aux2, model.aux2(after_4d))


def test_inception_bn_counts(rows: dict) -> None:
    assert round(rows["inception_bn"]["params"] / 1e5) == 113  # 11.3M, not the 13.6M
    # the appendix: "the computational cost is increased by about 30%" over GoogLeNet
    ratio = rows["inception_bn"]["macs"] / rows["googlenet_separable_stem"]["macs"]
    assert abs(ratio - 1.30) < 0.01
    plain = _on_meta(lambda: inception_bn(separable_stem=False))
    assert count_params(plain) - rows["inception_bn"]["params"] == 9408 - 2712


def test_paper_figures_markdown(rows: dict) -> None:
    from convlab.models import paper_figures_markdown

    text = paper_figures_markdown(list(rows.values()))
    lines = text.splitlines()
    notes = {row["note"] for row in rows.values() if row["note"]}
    assert lines[0].startswith("| model | params |")
    assert len(lines) == 2 + len(rows) + 1 + len(notes)
    (resnext,) = [line for line in lines if line.startswith("| resnext50_32x4d |")]
    assert "25.03M" in resnext and "+0.73%" in resnext
    assert sum(line.startswith("| shufflenet") and "[4]" in line for line in lines) == 5


def test_paper_figures_rows_and_bad_names() -> None:
    assert set(MODELS) == set(PAPER_FIGURES)
    (row,) = paper_figures(("mobilenet_v1",), input_size=224)
    assert row["paper_macs"] == 569e6 and "Howard" in row["source"]
    with pytest.raises(ValueError, match="PAPER_FIGURES"):
        paper_figures(("vgg16",))


def test_googlenet_module_widths_follow_table1() -> None:
    from convlab.blocks import InceptionModule

    shapes = _output_shapes(_on_meta(googlenet), InceptionModule)
    depths = [s[1] for s in shapes]
    assert depths == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert [s[2] for s in shapes] == [28, 28, 14, 14, 14, 14, 14, 7, 7]


def test_inception_bn_module_widths() -> None:
    from convlab.blocks import BNInceptionModule

    shapes = _output_shapes(_on_meta(inception_bn), BNInceptionModule)
    assert [s[1] for s in shapes] == [256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024]
    assert [s[2] for s in shapes] == [28, 28, 14, 14, 14, 14, 14, 7, 7, 7]


def test_resnext_stage_outputs() -> None:
    from convlab.blocks import ResNeXtBlock

    model = _on_meta(resnext50_32x4d)
    shapes = _output_shapes(model, ResNeXtBlock)
    last_of_stage = [shapes[i] for i in (2, 6, 12, 15)]
    assert last_of_stage == [(1, 256, 56, 56), (1, 512, 28, 28), (1, 1024, 14, 14),
                             (1, 2048, 7, 7)]
    assert [len(s) for s in model.stages] == [3, 4, 6, 3]
    assert all(b.conv2[0].groups == 32 for stage in model.stages for b in stage)


@pytest.mark.parametrize("groups", [1, 2, 3, 4, 8])
def test_shufflenet_stages_follow_table1(groups: int) -> None:
    from convlab.blocks import ShuffleNetUnit

    model = _on_meta(lambda: shufflenet_v1(groups))
    shapes = _output_shapes(model, ShuffleNetUnit)
    _, *widths = stage_channels(groups)
    assert [s[1] for s in shapes] == [widths[0]] * 4 + [widths[1]] * 8 + [widths[2]] * 4
    assert [s[2] for s in shapes] == [28] * 4 + [14] * 8 + [7] * 4
    first = model.stages[0][0].compress[0]
    assert first.groups == 1 and model.stages[0][1].compress[0].groups == groups


def test_shufflenet_width_mult() -> None:
    assert stage_channels(3, 0.5) == (12, 120, 240, 480)
    assert stage_channels(8, 1.0) == (24, 384, 768, 1536)
    with pytest.raises(ValueError, match="groups"):
        shufflenet_v1(groups=5)
    with pytest.raises(ValueError, match="width_mult"):
        shufflenet_v1(width_mult=0)


@pytest.mark.parametrize(("alpha", "mmacs", "mparams"),
                         [(0.75, 325, 2.6), (0.5, 149, 1.3), (0.25, 41, 0.5)])
def test_mobilenet_width_multipliers_match_table6(alpha: float, mmacs: int,
                                                   mparams: float) -> None:
    model = _on_meta(lambda: mobilenet_v1(alpha))
    assert round(count_macs(model, IMAGE) / 1e6) == mmacs
    assert round(count_params(model) / 1e6, 1) == mparams


def test_mobilenet_last_feature_map() -> None:
    model = _on_meta(mobilenet_v1)
    assert tuple(model.features(torch.zeros(IMAGE, device="meta")).shape) == (1, 1024, 7, 7)
    with pytest.raises(ValueError, match="width_mult"):
        mobilenet_v1(width_mult=-1)


@pytest.mark.parametrize("build", [googlenet, inception_bn, resnext50_32x4d, shufflenet_v1,
                                   mobilenet_v1, resnet50, mobilenet_v2])
def test_num_classes_on_meta(build: Callable[..., nn.Module]) -> None:
    model = _on_meta(lambda: build(num_classes=7))
    assert tuple(model.eval()(torch.zeros(2, 3, 224, 224, device="meta")).shape) == (2, 7)


@pytest.mark.slow
def test_real_forward_and_backward() -> None:
    # small inputs keep this quick; every network runs and trains end to end on real tensors
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for build in (googlenet, inception_bn, resnext50_32x4d, shufflenet_v1, mobilenet_v1,
                      resnet50, mobilenet_v2):
            torch.manual_seed(0)
            model = build(num_classes=5)
            out = model(torch.randn(2, 3, 32, 32))
            assert out.shape == (2, 5) and torch.isfinite(out).all()
            out.sum().backward()
            assert all(p.grad is not None for p in model.parameters())
    finally:
        torch.set_num_threads(threads)


# -- the common implementation's figures -------------------------------------------------------
_IMPL_PARAMS = [n for n, f in PAPER_FIGURES.items() if f.impl_params is not None]
_IMPL_MACS = [n for n, f in PAPER_FIGURES.items() if f.impl_macs is not None]


@pytest.mark.parametrize("name", _IMPL_PARAMS)
def test_params_equal_the_common_implementation(rows: dict, name: str) -> None:
    # torchvision publishes num_params exactly: the same network has exactly as many
    assert rows[name]["params"] == PAPER_FIGURES[name].impl_params, rows[name]


@pytest.mark.parametrize("name", _IMPL_MACS)
def test_macs_round_to_the_common_implementation(rows: dict, name: str) -> None:
    # torchvision publishes "_ops" in GFLOPS (its multiply-adds) with three decimals
    assert round(rows[name]["macs"] / 1e9, 3) == PAPER_FIGURES[name].impl_macs / 1e9, rows[name]


def test_reference_figures_are_present() -> None:
    assert {"resnet50", "resnet50_stride_in_3x3", "mobilenet_v2", "inception_v3",
            "inception_v3_aux"} <= set(_IMPL_PARAMS)
    assert {"resnet50_stride_in_3x3", "mobilenet_v2", "inception_v3"} <= set(_IMPL_MACS)


# -- ResNet-50 ------------------------------------------------------------------------------------
def test_resnet50_paper_flops_within_table1_rounding(rows: dict) -> None:
    # Table 1 prints "3.8×10^9": the paper's network (stride in the 1×1) lies in [3.8, 3.9)
    macs = rows["resnet50"]["macs"]
    assert 3.8e9 <= macs < 3.9e9
    # the stride-in-3×3 variant does not: 4.09×10^9
    assert rows["resnet50_stride_in_3x3"]["macs"] >= 4.0e9


@pytest.mark.parametrize(("layers", "table1"), [((3, 4, 23, 3), 7.6), ((3, 8, 36, 3), 11.3)])
def test_deeper_resnets_round_to_table1_only_with_stride_in_1x1(layers: tuple,
                                                                table1: float) -> None:
    from convlab.models.resnet import ResNet

    paper = count_macs(_on_meta(lambda: ResNet(layers)), IMAGE)
    variant = count_macs(_on_meta(lambda: ResNet(layers, stride_in_3x3=True)), IMAGE)
    assert round(paper / 1e9, 1) == table1
    assert round(variant / 1e9, 1) != table1


def test_resnet50_variants_differ_only_in_the_first_1x1_of_downsampling_blocks() -> None:
    from convlab.blocks import Bottleneck

    paper, variant = _on_meta(resnet50), _on_meta(lambda: resnet50(stride_in_3x3=True))
    assert count_params(paper) == count_params(variant) == 25_557_032
    # analytic: conv1 of conv3_1, conv4_1, conv5_1 runs on 4× the positions: 3·H'W'·C_in·p more
    expected = sum(3 * hw * hw * c_in * p for c_in, p, hw in ((256, 128, 28), (512, 256, 14),
                                                               (1024, 512, 7)))
    assert count_macs(variant, IMAGE) - count_macs(paper, IMAGE) == expected == 231_211_008
    strides = [(b.conv1[0].stride[0], b.conv2[0].stride[0])
               for b in paper.modules() if isinstance(b, Bottleneck) and b.stride == 2]
    assert strides == [(2, 1)] * 3
    strides = [(b.conv1[0].stride[0], b.conv2[0].stride[0])
               for b in variant.modules() if isinstance(b, Bottleneck) and b.stride == 2]
    assert strides == [(1, 2)] * 3


@pytest.mark.parametrize("stride_in_3x3", [False, True])
def test_resnet50_stage_outputs_follow_table1(stride_in_3x3: bool) -> None:
    from convlab.blocks import Bottleneck

    model = _on_meta(lambda: resnet50(stride_in_3x3=stride_in_3x3))
    shapes = _output_shapes(model, Bottleneck)
    assert len(shapes) == 16 and [len(s) for s in model.stages] == [3, 4, 6, 3]
    assert [shapes[i] for i in (2, 6, 12, 15)] == [(1, 256, 56, 56), (1, 512, 28, 28),
                                                   (1, 1024, 14, 14), (1, 2048, 7, 7)]
    # option B: projections only where the shape changes (the first block of each stage)
    projections = [b.downsample is not None for b in model.modules() if isinstance(b, Bottleneck)]
    assert projections == [True, False, False, True, False, False, False, True] + [False] * 5 \
        + [True, False, False]
    with pytest.raises(ValueError, match="num_classes"):
        resnet50(num_classes=0)


# -- MobileNet v2 ---------------------------------------------------------------------------------
def _weights_only(model: nn.Module) -> int:
    """Conv and linear weights, no biases and no batch-norm parameters."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear))


def test_mobilenet_v2_counts(rows: dict) -> None:
    row = rows["mobilenet_v2"]
    assert row["params"] == 3_504_872 and round(row["macs"] / 1e6, 1) == 300.8
    assert round(row["macs"] / 1e6) == 301 and abs(row["macs_diff"]) < 0.01  # paper: 300M
    # the paper's "3.4M" and the released checkpoints' "3.47M" count the weights alone
    assert round(_weights_only(_on_meta(mobilenet_v2)) / 1e6, 2) == 3.47
    wide = _on_meta(lambda: mobilenet_v2(width_mult=1.4))
    assert round(_weights_only(wide) / 1e6, 2) == 6.06  # the released 1.4 model; paper: 6.9M
    assert round(rows["mobilenet_v2_1.4"]["macs"] / 1e6) == 582  # released 582M; paper: 585M


def test_mobilenet_v2_follows_table2() -> None:
    from convlab.blocks import InvertedResidual
    from convlab.models.mobilenet import MOBILENET_V2_SETTINGS

    model = _on_meta(mobilenet_v2)
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == sum(n for _, _, n, _ in MOBILENET_V2_SETTINGS) == 17
    shapes = _output_shapes(model, InvertedResidual)
    expected = [(c, size) for (_, c, n, _), size in zip(
        MOBILENET_V2_SETTINGS, (112, 56, 28, 14, 14, 7, 7), strict=True) for _ in range(n)]
    assert [(s[1], s[2]) for s in shapes] == expected
    assert [b.hidden_channels for b in blocks[:3]] == [32, 96, 144]  # t = 1, then 6·16, 6·24
    assert blocks[0].expand is None and all(b.expand is not None for b in blocks[1:])
    assert sum(b.use_residual for b in blocks) == 10  # 17 blocks minus the 7 sequence starts
    acts = {type(m) for m in model.modules() if isinstance(m, nn.ReLU | nn.ReLU6)}
    assert acts == {nn.ReLU6}
    assert model.features(torch.zeros(IMAGE, device="meta")).shape == (1, 1280, 7, 7)


def test_mobilenet_v2_width_multiplier_rounding() -> None:
    from convlab.models.mobilenet import make_divisible

    assert [make_divisible(c * 0.35) for c in (32, 16, 24, 32, 64, 96, 160, 320)] == \
        [16, 8, 8, 16, 24, 32, 56, 112]
    assert make_divisible(1280 * 1.4) == 1792 and make_divisible(10) == 16  # never < 90 %
    narrow = _on_meta(lambda: mobilenet_v2(width_mult=0.5))
    assert narrow.head[-1].in_features == 1280  # "except the very last convolutional layer"
    assert _on_meta(lambda: mobilenet_v2(width_mult=1.4)).head[-1].in_features == 1792
    with pytest.raises(ValueError, match="width_mult"):
        mobilenet_v2(width_mult=0)
    with pytest.raises(ValueError, match="num_classes"):
        mobilenet_v2(num_classes=-1)


# -- Inception v3 ---------------------------------------------------------------------------------
IMAGE_299 = (1, 3, 299, 299)


def test_inception_v3_counts(rows: dict) -> None:
    with_aux, without = rows["inception_v3_aux"], rows["inception_v3"]
    assert (with_aux["input_size"], without["input_size"]) == (299, 299)
    assert with_aux["params"] == 27_161_264 and without["params"] == 23_834_568
    # the auxiliary head: 1×1 conv 768→128 + BN, 5×5 conv 128→768 + BN, linear 768→1000
    aux = 768 * 128 + 2 * 128 + 128 * 768 * 25 + 2 * 768 + 768 * 1000 + 1000
    assert with_aux["params"] - without["params"] == aux == 3_326_696
    # the abstract: "less than 25 million parameters" (at inference, without the head) ...
    assert without["params"] < 25e6 < with_aux["params"]
    # ... and "5 billion multiply-adds per inference": 5.71e9 counted, as torchvision's 5.713
    assert round(without["macs"] / 1e9, 2) == 5.71 and with_aux["macs"] == without["macs"]
    assert 0.1 < without["macs_diff"] < 0.15


def test_inception_v3_grid_and_widths() -> None:
    from convlab.blocks import InceptionA, InceptionB, InceptionC, InceptionD, InceptionE

    model = _on_meta(inception_v3)
    shapes: list[tuple[int, ...]] = []
    kinds = (InceptionA, InceptionB, InceptionC, InceptionD, InceptionE)
    hooks = [m.register_forward_hook(lambda _m, _a, out: shapes.append(tuple(out.shape)))
             for m in model.modules() if isinstance(m, kinds)]
    model.eval()(torch.zeros(IMAGE_299, device="meta"))
    for h in hooks:
        h.remove()
    assert [s[1:] for s in shapes] == [
        (256, 35, 35), (288, 35, 35), (288, 35, 35),  # Mixed_5b-d
        (768, 17, 17),  # Mixed_6a: grid reduction
        (768, 17, 17), (768, 17, 17), (768, 17, 17), (768, 17, 17),  # Mixed_6b-e
        (1280, 8, 8),  # Mixed_7a
        (2048, 8, 8), (2048, 8, 8),  # Mixed_7b-c
    ]
    assert [m.branch7x7_1.out_channels for m in (model.Mixed_6b, model.Mixed_6c, model.Mixed_6d,
                                                 model.Mixed_6e)] == [128, 160, 160, 192]


def test_inception_v3_outputs_and_aux_head() -> None:
    from convlab.models import InceptionOutputs

    x = torch.zeros(2, 3, 299, 299, device="meta")
    model = _on_meta(inception_v3).train()
    out = model(x)
    assert isinstance(out, InceptionOutputs)
    assert out.logits.shape == out.aux_logits.shape == (2, 1000)
    logits = model.eval()(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 1000)
    plain = _on_meta(lambda: inception_v3(num_classes=10, aux_logits=False)).train()
    assert plain.AuxLogits is None and plain(x).shape == (2, 10)
    assert not any("AuxLogits" in name for name, _ in plain.named_parameters())
    with pytest.raises(TypeError, match="aux_logits"):
        inception_v3(aux_logits=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_classes"):
        inception_v3(num_classes=0)


@pytest.mark.slow
def test_inception_v3_real_forward_at_299() -> None:
    # one real forward pass at full size (about 11 GMACs for two images)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = inception_v3(num_classes=5).train()
        with torch.no_grad():
            out = model(torch.randn(2, 3, 299, 299))
        assert out.logits.shape == out.aux_logits.shape == (2, 5)
        assert torch.isfinite(out.logits).all() and torch.isfinite(out.aux_logits).all()
    finally:
        torch.set_num_threads(threads)


# -- the digits networks ------------------------------------------------------------------------
def test_digits_cnn_seeded_weights_and_default_conv() -> None:
    import convlab.functional
    from convlab.models.small import DigitsCNN

    a, b, c = DigitsCNN(seed=0), DigitsCNN(seed=0), DigitsCNN(seed=1)
    assert a.conv is convlab.functional.conv2d
    for name, value in a.state_arrays().items():
        assert (value == b.state_arrays()[name]).all()
        assert not (value == c.state_arrays()[name]).all()
    assert a.conv1_weight.abs().max() <= 1 / 3  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in 9


def test_digits_cnn_calls_the_injected_conv() -> None:
    import torch.nn.functional as F

    from convlab.models.small import DigitsCNN

    calls = []

    def conv(x, weight, bias, stride, padding):  # noqa: ANN001, ANN202
        calls.append((tuple(x.shape), tuple(weight.shape), stride, padding))
        return F.conv2d(x, weight, bias, stride=stride, padding=padding)

    out = DigitsCNN(conv=conv, channels=(4, 6), image_size=16)(torch.zeros(3, 1, 16, 16))
    assert out.shape == (3, 10)
    assert calls == [((3, 1, 16, 16), (4, 1, 3, 3), 1, 1), ((3, 4, 8, 8), (6, 4, 3, 3), 1, 1)]


def test_state_arrays_round_trip_and_errors() -> None:
    import numpy as np
    import torch.nn.functional as F

    from convlab.models.small import DigitsAutoencoder, DigitsCNN

    src, dst = DigitsCNN(conv=F.conv2d, seed=3), DigitsCNN(conv=F.conv2d, seed=4)
    arrays = src.state_arrays()
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in arrays.values())
    dst.load_arrays(arrays)
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(dst(x), src(x))
    with pytest.raises(ValueError, match="missing"):
        dst.load_arrays({k: v for k, v in arrays.items() if k != "fc_bias"})
    with pytest.raises(ValueError, match="shape"):
        dst.load_arrays({**arrays, "fc_bias": np.zeros(3)})
    with pytest.raises(ValueError, match="finite"):
        dst.load_arrays({**arrays, "fc_bias": np.full(10, np.nan)})
    ae = DigitsAutoencoder(conv_transpose=F.conv_transpose2d, conv=F.conv2d, image_size=16)
    assert ae(torch.rand(2, 1, 16, 16)).shape == (2, 1, 16, 16)
    assert ae.state_arrays()["dec1_weight"].shape == (32, 16, 3, 3)  # (C_in, C_out, k, k)


def test_digits_networks_bad_args() -> None:
    from convlab.models.small import DigitsAutoencoder, DigitsCNN

    with pytest.raises(ValueError, match="image_size"):
        DigitsCNN(image_size=10)
    with pytest.raises(ValueError, match="channels"):
        DigitsCNN(channels=(8,))
    with pytest.raises(TypeError, match="conv"):
        DigitsCNN(conv="conv2d")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"x must be \(N, 1, 8, 8\)"):
        DigitsCNN()(torch.zeros(1, 1, 16, 16))
    with pytest.raises(TypeError, match="conv_transpose"):
        DigitsAutoencoder(conv_transpose=3)  # type: ignore[arg-type]
