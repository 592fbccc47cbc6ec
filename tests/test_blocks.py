"""Do the blocks produce the papers' shapes, keep the identity where they should, and check args?"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlab.analysis import count_macs, count_params
from convlab.blocks import (
    ASPP,
    BLOCKS,
    BNInceptionModule,
    Bottleneck,
    ConvNormAct,
    DepthwiseSeparable,
    InceptionModule,
    InvertedResidual,
    ResNeXtBlock,
    ShuffleNetUnit,
    block_class,
    bottleneck_width,
)


def _randomise_norms(module: nn.Module) -> None:
    """Give every BN non-trivial statistics so eval-mode checks are not vacuous."""
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


# -- ResNeXt ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("in_ch", "planes", "stride", "hw", "out_shape"),
    [
        (64, 64, 1, 56, (2, 256, 56, 56)),  # conv2 first block: projection for channels
        (256, 64, 1, 56, (2, 256, 56, 56)),  # identity shortcut
        (256, 128, 2, 56, (2, 512, 28, 28)),  # conv3 first block
        (1024, 512, 2, 13, (2, 2048, 7, 7)),  # odd size: ceil(13 / 2)
    ],
)
def test_resnext_shapes(in_ch: int, planes: int, stride: int, hw: int, out_shape: tuple) -> None:
    block = ResNeXtBlock(in_ch, planes, stride, cardinality=32, base_width=4)
    assert block(torch.randn(2, in_ch, hw, hw)).shape == out_shape
    assert (block.downsample is None) == (stride == 1 and in_ch == planes * 4)


def test_resnext_grouped_width_follows_table1() -> None:
    assert bottleneck_width(64, 32, 4) == 128 and bottleneck_width(512, 32, 4) == 1024
    block = ResNeXtBlock(256, 64, cardinality=32, base_width=4)
    conv = block.conv2[0]
    assert conv.groups == 32 and conv.weight.shape == (128, 4, 3, 3)


def test_resnext_cardinality_one_is_resnet_bottleneck() -> None:
    block = ResNeXtBlock(256, 64, cardinality=1, base_width=64, norm_layer=None)
    # 1×1 256→64, 3×3 64→64, 1×1 64→256, each with a bias (no norm)
    expected = (256 * 64 + 64) + (64 * 64 * 9 + 64) + (64 * 256 + 256)
    assert count_params(block) == expected


def test_resnext_zero_init_last_is_identity() -> None:
    block = ResNeXtBlock(256, 64, zero_init_last=True).eval()
    _randomise_norms(block)
    x = torch.randn(2, 256, 8, 8)
    torch.testing.assert_close(block(x), F.relu(x))
    block.conv3[1].weight.data.fill_(1.0)
    assert not torch.allclose(block(x), F.relu(x))


def test_resnext_residual_adds_the_branch() -> None:
    block = ResNeXtBlock(256, 64).eval()
    _randomise_norms(block)
    x = torch.randn(1, 256, 6, 6)
    branch = block.conv3(block.conv2(block.conv1(x)))
    torch.testing.assert_close(block(x), F.relu(branch + x))


def test_resnext_bad_args() -> None:
    with pytest.raises(ValueError, match="downsample=False"):
        ResNeXtBlock(64, 64, downsample=False)
    with pytest.raises(ValueError, match="cardinality"):
        ResNeXtBlock(64, 64, cardinality=0)
    with pytest.raises(ValueError, match="each group has a channel"):
        ResNeXtBlock(64, 8, cardinality=32, base_width=4)


# -- ResNet bottleneck ---------------------------------------------------------------------------
@pytest.mark.parametrize("stride_in_3x3", [False, True])
def test_bottleneck_stride_placement_and_shapes(stride_in_3x3: bool) -> None:
    block = Bottleneck(256, 128, stride=2, stride_in_3x3=stride_in_3x3)
    assert block(torch.randn(2, 256, 15, 15)).shape == (2, 512, 8, 8)  # ceil(15 / 2)
    conv1, conv2 = block.conv1[0], block.conv2[0]
    assert (conv1.stride, conv2.stride) == (((1, 1), (2, 2)) if stride_in_3x3 else
                                            ((2, 2), (1, 1)))
    assert block.downsample is not None and block.downsample[0].stride == (2, 2)


def test_bottleneck_variants_share_weights_and_differ_in_what_they_see() -> None:
    torch.manual_seed(0)
    paper = Bottleneck(64, 16, stride=2).eval()
    variant = Bottleneck(64, 16, stride=2, stride_in_3x3=True).eval()
    variant.load_state_dict(paper.state_dict())  # same parameter names and shapes
    x = torch.randn(1, 64, 8, 8)
    assert not torch.allclose(paper(x), variant(x))
    # the paper's strided 1×1 reads only the even rows and columns: changing the others is
    # invisible to its branch (the projection shortcut is strided the same way)
    y = x.clone()
    y[:, :, 1::2, :] += 1.0
    torch.testing.assert_close(paper(x), paper(y))
    assert not torch.allclose(variant(x), variant(y))


def test_bottleneck_residual_and_params() -> None:
    block = Bottleneck(256, 64).eval()
    _randomise_norms(block)
    x = torch.randn(1, 256, 6, 6)
    torch.testing.assert_close(block(x), F.relu(block.conv3(block.conv2(block.conv1(x))) + x))
    assert block.downsample is None
    weights = 256 * 64 + 9 * 64 * 64 + 64 * 256
    assert count_params(block) == weights + 2 * (64 + 64 + 256)  # BN scale and shift
    zero = Bottleneck(256, 64, zero_init_last=True).eval()
    torch.testing.assert_close(zero(x), F.relu(x))


def _bn(y: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    return F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False,
                        eps=bn.eps)


@settings(deadline=None, derandomize=True, max_examples=15)
@given(c_in=st.integers(1, 8), planes=st.integers(1, 4), stride=st.sampled_from([1, 2]),
       stride_in_3x3=st.booleans(), size=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_bottleneck_matches_functional_formulation(c_in: int, planes: int, stride: int,
                                                   stride_in_3x3: bool, size: int,
                                                   seed: int) -> None:
    torch.manual_seed(seed)
    block = Bottleneck(c_in, planes, stride, stride_in_3x3).eval()
    _randomise_norms(block)
    x = torch.randn(2, c_in, size, size)
    s1, s3 = (1, stride) if stride_in_3x3 else (stride, 1)
    y = F.relu(_bn(F.conv2d(x, block.conv1[0].weight, stride=s1), block.conv1[1]))
    y = F.relu(_bn(F.conv2d(y, block.conv2[0].weight, stride=s3, padding=1), block.conv2[1]))
    y = _bn(F.conv2d(y, block.conv3[0].weight), block.conv3[1])
    if block.downsample is None:
        shortcut = x
    else:
        proj = block.downsample
        shortcut = _bn(F.conv2d(x, proj[0].weight, stride=stride), proj[1])
    torch.testing.assert_close(block(x), F.relu(y + shortcut))


def test_bottleneck_bad_args() -> None:
    with pytest.raises(ValueError, match="downsample=False"):
        Bottleneck(64, 64, downsample=False)
    with pytest.raises(TypeError, match="stride_in_3x3"):
        Bottleneck(64, 16, stride_in_3x3=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="planes"):
        Bottleneck(64, 0)


# -- ShuffleNet ---------------------------------------------------------------------------------
@pytest.mark.parametrize("groups", [1, 2, 3, 4, 8])
def test_shufflenet_unit_shapes(groups: int) -> None:
    width = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}[groups]
    down = ShuffleNetUnit(24, width, groups, stride=2, first_grouped=False)
    same = ShuffleNetUnit(width, width, groups, stride=1)
    y = down(torch.randn(2, 24, 56, 56))
    assert y.shape == (2, width, 28, 28)
    assert same(y).shape == (2, width, 28, 28)
    assert down.compress[0].groups == 1 and same.compress[0].groups == groups
    assert same.depthwise[0].groups == width // 4 == same.mid_channels


def test_shufflenet_unit_forward_is_the_paper_unit() -> None:
    unit = ShuffleNetUnit(240, 240, 3).eval()
    _randomise_norms(unit)
    x = torch.randn(2, 240, 7, 7)
    y = unit.compress(x)  # (2, 60, 7, 7)
    n, c, h, w = y.shape
    y = y.reshape(n, 3, c // 3, h, w).transpose(1, 2).reshape(n, c, h, w)  # the shuffle
    y = unit.expand(unit.depthwise(y))
    torch.testing.assert_close(unit(x), F.relu(x + y))


def test_shufflenet_unit_stride2_concatenates_pooled_input() -> None:
    unit = ShuffleNetUnit(240, 480, 3, stride=2).eval()
    nn.init.zeros_(unit.expand[1].weight)
    nn.init.zeros_(unit.expand[1].bias)
    x = torch.randn(1, 240, 14, 14)
    y = unit(x)
    assert y.shape == (1, 480, 7, 7)
    torch.testing.assert_close(y[:, :240], F.relu(F.avg_pool2d(x, 3, 2, 1)))
    assert torch.count_nonzero(y[:, 240:]) == 0


def test_shufflenet_unit_bad_args() -> None:
    with pytest.raises(ValueError, match="must equal"):
        ShuffleNetUnit(240, 480, 3, stride=1)
    with pytest.raises(ValueError, match="must exceed"):
        ShuffleNetUnit(240, 240, 3, stride=2)
    with pytest.raises(ValueError, match="divisible by groups"):
        ShuffleNetUnit(200, 200, 3)
    with pytest.raises(ValueError, match="stride"):
        ShuffleNetUnit(240, 240, 3, stride=3)


# -- Inception ----------------------------------------------------------------------------------
def test_inception_3a_matches_table1() -> None:
    m = InceptionModule(192, 64, 96, 128, 16, 32, 32)
    y = m(torch.randn(1, 192, 28, 28))
    assert y.shape == (1, 256, 28, 28) and m.out_channels == 256
    weights = sum(p.numel() for n, p in m.named_parameters() if n.endswith("weight"))
    assert weights == 163_328 and weights // 1024 == 159  # Table 1: "159K" (units of 1,024)


def test_inception_branch_order() -> None:
    m = InceptionModule(16, 4, 4, 5, 4, 6, 7)
    x = torch.randn(1, 16, 9, 9)
    y = m(x)
    torch.testing.assert_close(y[:, :4], m.branch1(x))
    torch.testing.assert_close(y[:, 4:9], m.branch2(x))
    torch.testing.assert_close(y[:, 9:15], m.branch3(x))
    torch.testing.assert_close(y[:, 15:], m.branch4(x))


def test_bn_inception_stride1_and_pool_kinds() -> None:
    for pool in ("avg", "max"):
        m = BNInceptionModule(192, 64, 64, 64, 64, 96, 32, pool=pool)
        assert m(torch.randn(2, 192, 28, 28)).shape == (2, 256, 28, 28)
    # the 5×5 branch is two 3×3 convs
    kernels = [c.kernel_size for c in m.branch3.modules() if isinstance(c, nn.Conv2d)]
    assert kernels == [(1, 1), (3, 3), (3, 3)]


def test_bn_inception_stride2_passes_pooled_input_through() -> None:
    m = BNInceptionModule(320, 0, 128, 160, 64, 96, 0, pool="max", stride=2).eval()
    x = torch.randn(1, 320, 28, 28)
    y = m(x)
    assert y.shape == (1, 576, 14, 14) and m.out_channels == 576
    torch.testing.assert_close(y[:, 256:], F.max_pool2d(x, 3, 2, 1))


def test_inception_bad_args() -> None:
    with pytest.raises(ValueError, match="ch1x1 and pool_proj must be 0"):
        BNInceptionModule(320, 64, 128, 160, 64, 96, 0, stride=2)
    with pytest.raises(ValueError, match="pool"):
        BNInceptionModule(192, 64, 64, 64, 64, 96, 32, pool="lp")
    with pytest.raises(ValueError, match="ch5x5"):
        InceptionModule(192, 64, 96, 128, 16, 0, 32)


# -- Inception v3 ----------------------------------------------------------------------------------
def _positive(module: nn.Module) -> nn.Module:
    """Positive conv weights and identity BN, so every ReLU passes its input through."""
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data = torch.rand(m.weight.shape, generator=g) + 0.1
    return module.eval()


def _support(branch: nn.Module, channels: int, size: int = 21) -> tuple[int, int]:
    """Height and width of the input region the centre output depends on (gradient support)."""
    x = torch.rand(1, channels, size, size, requires_grad=True)
    y = branch(x)
    y[..., y.shape[-2] // 2, y.shape[-1] // 2].sum().backward()
    rows, cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1))).unbind(1)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_inception_v3_modules_shapes() -> None:
    from convlab.blocks import InceptionA, InceptionB, InceptionC, InceptionD, InceptionE

    cases = [(InceptionA(192, 32), 192, 35, (256, 35)), (InceptionB(288), 288, 35, (768, 17)),
             (InceptionC(768, 128), 768, 17, (768, 17)), (InceptionD(768), 768, 17, (1280, 8)),
             (InceptionE(1280), 1280, 8, (2048, 8))]
    for module, c_in, size, (c_out, out_size) in cases:
        y = module.eval()(torch.randn(1, c_in, size, size))
        assert y.shape == (1, c_out, out_size, out_size) and module.out_channels == c_out


def test_inception_v3_factorisations_keep_the_receptive_field() -> None:
    from convlab.blocks import InceptionA, InceptionC, InceptionE

    a = _positive(InceptionA(8, 4))
    assert _support(nn.Sequential(a.branch3x3dbl_1, a.branch3x3dbl_2, a.branch3x3dbl_3), 8) \
        == _support(nn.Sequential(a.branch5x5_1, a.branch5x5_2), 8) == (5, 5)  # two 3×3 = 5×5
    c = _positive(InceptionC(8, 4))
    kernels = [m.kernel_size for m in (c.branch7x7_2[0], c.branch7x7_3[0])]
    assert kernels == [(1, 7), (7, 1)]
    assert _support(nn.Sequential(c.branch7x7_1, c.branch7x7_2, c.branch7x7_3), 8) == (7, 7)
    assert _support(nn.Sequential(c.branch7x7dbl_1, c.branch7x7dbl_2, c.branch7x7dbl_3,
                                  c.branch7x7dbl_4, c.branch7x7dbl_5), 8) == (13, 13)
    # a 1×7 then a 7×1 on c → c channels hold 2·7·c² weights, a 7×7 holds 49·c²
    assert (c.branch7x7_2[0].weight.numel() * 2) / (4 * 4 * 49) == pytest.approx(14 / 49)
    e = _positive(InceptionE(8))
    assert _support(e.branch3x3_2a, 384) == (1, 3) and _support(e.branch3x3_2b, 384) == (3, 1)


def test_inception_v3_module_concatenation_order() -> None:
    from convlab.blocks import InceptionE

    torch.manual_seed(0)
    m = InceptionE(16).eval()
    _randomise_norms(m)
    x = torch.randn(1, 16, 8, 8)
    y = m(x)
    torch.testing.assert_close(y[:, :320], m.branch1x1(x))
    mid = m.branch3x3_1(x)
    torch.testing.assert_close(y[:, 320:704], m.branch3x3_2a(mid))
    torch.testing.assert_close(y[:, 704:1088], m.branch3x3_2b(mid))
    torch.testing.assert_close(y[:, -192:], m.branch_pool(F.avg_pool2d(x, 3, 1, 1)))


def test_inception_v3_grid_reduction_passes_the_pooled_input() -> None:
    from convlab.blocks import InceptionB, InceptionD

    x = torch.randn(1, 32, 17, 17)
    for module, convs in ((InceptionB(32), 480), (InceptionD(32), 512)):
        y = module.eval()(x)
        assert y.shape == (1, convs + 32, 8, 8)
        torch.testing.assert_close(y[:, convs:], F.max_pool2d(x, 3, 2))


def test_inception_aux_and_conv_bn() -> None:
    from convlab.blocks import InceptionA
    from convlab.blocks.inception_v3 import ConvBN, InceptionAux

    aux = InceptionAux(768, 10).eval()
    assert aux(torch.randn(2, 768, 17, 17)).shape == (2, 10)
    unit = ConvBN(4, 8, (1, 7), padding=(0, 3))
    assert unit[0].bias is None and unit[1].eps == 0.001 and isinstance(unit[2], nn.ReLU)
    assert unit(torch.randn(1, 4, 5, 9)).shape == (1, 8, 5, 9)
    with pytest.raises(ValueError, match="pool_features"):
        InceptionA(192, 0)


# -- MobileNet ----------------------------------------------------------------------------------
def test_depthwise_separable_shapes_and_params() -> None:
    block = DepthwiseSeparable(32, 64, stride=2)
    assert block(torch.randn(2, 32, 112, 112)).shape == (2, 64, 56, 56)
    # dw 3×3 (32·9) + pw (32·64) weights, BN scale and shift on 32 and 64 channels
    assert count_params(block) == 32 * 9 + 32 * 64 + 2 * (32 + 64)
    assert block.depthwise[0].groups == 32


def test_depthwise_separable_xception_style_has_no_middle_activation() -> None:
    mobilenet = DepthwiseSeparable(8, 16)
    xception = DepthwiseSeparable(8, 16, mid_act_layer=None)
    assert any(isinstance(m, nn.ReLU) for m in mobilenet.depthwise)
    assert not any(isinstance(m, nn.ReLU) for m in xception.depthwise)
    assert any(isinstance(m, nn.ReLU) for m in xception.pointwise)


def test_inverted_residual_is_table1() -> None:
    block = InvertedResidual(24, 24, stride=1, expand_ratio=6).eval()
    _randomise_norms(block)
    x = torch.randn(2, 24, 10, 10)
    expand, depthwise, project = block.expand, block.depthwise, block.project
    assert expand[0].out_channels == 144 and depthwise[0].groups == 144
    assert isinstance(expand[-1], nn.ReLU6) and isinstance(depthwise[-1], nn.ReLU6)
    assert not any(isinstance(m, nn.ReLU | nn.ReLU6) for m in project)  # linear bottleneck
    torch.testing.assert_close(block(x), x + project(depthwise(expand(x))))
    # the output of the linear bottleneck takes negative values; a ReLU block's would not
    assert (project(depthwise(expand(x))) < 0).any()


@pytest.mark.parametrize(("c_in", "c_out", "stride", "t", "residual"),
                         [(32, 16, 1, 1, False), (16, 24, 2, 6, False), (24, 24, 1, 6, True),
                          (64, 96, 1, 6, False), (7, 7, 1, 2.5, True)])
def test_inverted_residual_shapes(c_in: int, c_out: int, stride: int, t: float,
                                  residual: bool) -> None:
    block = InvertedResidual(c_in, c_out, stride, t)
    assert block(torch.randn(1, c_in, 9, 9)).shape == (1, c_out, 5 if stride == 2 else 9,
                                                        5 if stride == 2 else 9)
    assert block.use_residual is residual and block.hidden_channels == round(c_in * t)
    assert (block.expand is None) == (t == 1)
    # MACs per output position: expand k·tk (at the input grid), depthwise 9·tk, project tk·k'
    hidden = round(c_in * t)
    expected = (c_in * hidden if t != 1 else 0) * 81 + (9 + c_out) * hidden * (
        25 if stride == 2 else 81)
    assert count_macs(block, (1, c_in, 9, 9)) == expected


@settings(deadline=None, derandomize=True, max_examples=15)
@given(c_in=st.integers(1, 8), c_out=st.integers(1, 8), stride=st.sampled_from([1, 2]),
       t=st.sampled_from([1, 2, 6, 0.5]), size=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_inverted_residual_matches_functional_formulation(c_in: int, c_out: int, stride: int,
                                                          t: float, size: int,
                                                          seed: int) -> None:
    hidden = round(c_in * t)
    if hidden < 1:
        with pytest.raises(ValueError, match="expand_ratio"):
            InvertedResidual(c_in, c_out, stride, t)
        return
    torch.manual_seed(seed)
    block = InvertedResidual(c_in, c_out, stride, t).eval()
    _randomise_norms(block)
    x = torch.randn(2, c_in, size, size)
    y = x
    if t != 1:
        y = F.relu6(_bn(F.conv2d(y, block.expand[0].weight), block.expand[1]))
    y = F.relu6(_bn(F.conv2d(y, block.depthwise[0].weight, stride=stride, padding=1,
                             groups=hidden), block.depthwise[1]))
    y = _bn(F.conv2d(y, block.project[0].weight), block.project[1])
    if stride == 1 and c_in == c_out:
        y = y + x
    torch.testing.assert_close(block(x), y)


def test_inverted_residual_bad_args() -> None:
    with pytest.raises(ValueError, match="stride"):
        InvertedResidual(16, 16, stride=3)
    with pytest.raises(ValueError, match="expand_ratio"):
        InvertedResidual(16, 16, expand_ratio=0)
    with pytest.raises(ValueError, match="in_channels"):
        InvertedResidual(0, 16)


# -- ASPP ------------------------------------------------------------------------------------------
def _aspp_reference(aspp: ASPP, x: torch.Tensor) -> torch.Tensor:
    """ASPP in eval mode written out with functional calls from its weights."""
    def bn_relu(y: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
        return F.relu(F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                   training=False, eps=bn.eps))

    outs = [bn_relu(F.conv2d(x, aspp.branches[0][0].weight), aspp.branches[0][1])]
    for rate, branch in zip(aspp.rates, aspp.branches[1:-1], strict=True):
        outs.append(bn_relu(F.conv2d(x, branch[0].weight, padding=rate, dilation=rate),
                            branch[1]))
    pooled = aspp.branches[-1].conv
    mean = x.mean(dim=(2, 3), keepdim=True)
    outs.append(bn_relu(F.conv2d(mean, pooled[0].weight), pooled[1]).expand_as(outs[0]))
    proj = aspp.project[0]
    return bn_relu(F.conv2d(torch.cat(outs, 1), proj[0].weight), proj[1])


@settings(deadline=None, derandomize=True, max_examples=15)
@given(c_in=st.integers(1, 6), c_out=st.integers(1, 5), h=st.integers(1, 12),
       w=st.integers(1, 12), rates=st.lists(st.integers(1, 14), min_size=1, max_size=4),
       seed=st.integers(0, 2**16))
def test_aspp_matches_functional_formulation(c_in: int, c_out: int, h: int, w: int,
                                             rates: list[int], seed: int) -> None:
    torch.manual_seed(seed)
    aspp = ASPP(c_in, c_out, rates=rates).eval()
    _randomise_norms(aspp)
    x = torch.randn(2, c_in, h, w)
    y = aspp(x)
    assert y.shape == (2, c_out, h, w)
    torch.testing.assert_close(y, _aspp_reference(aspp, x))


def test_aspp_branches_follow_deeplab_v3() -> None:
    aspp = ASPP(2048)
    assert len(aspp.branches) == 5 and aspp.rates == (6, 12, 18)
    one, *atrous, pool = aspp.branches
    assert one[0].kernel_size == (1, 1)
    assert [(b[0].kernel_size, b[0].dilation, b[0].padding) for b in atrous] == [
        ((3, 3), (r, r), (r, r)) for r in (6, 12, 18)]
    convs = [m for m in aspp.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6 and all(c.bias is None and c.out_channels == 256 for c in convs)
    assert aspp.project[0][0].in_channels == 5 * 256
    for seq in [one, *atrous, pool.conv, aspp.project[0]]:
        assert [type(m) for m in seq] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert aspp.project[1].p == 0.0 and ASPP(8, dropout=0.5).project[1].p == 0.5
    weights = 2048 * 256 * (1 + 9 * 3 + 1) + 5 * 256 * 256
    assert count_params(aspp) == weights + 2 * 256 * 6  # BN scale and shift after each conv
    assert count_macs(aspp, (1, 2048, 33, 33)) == (2048 * 256 * (1 + 27) + 5 * 256 * 256) \
        * 33 * 33 + 2048 * 256  # the pooling branch's 1×1 conv runs on one position


@pytest.mark.parametrize("rate", [1, 2, 3])
def test_aspp_rate_spaces_the_taps(rate: int) -> None:
    aspp = ASPP(1, 1, rates=(rate,)).eval()
    branch = aspp.branches[1]
    nn.init.constant_(branch[0].weight, 1.0)
    x = torch.rand(1, 1, 11, 11, requires_grad=True)
    branch(x)[0, 0, 5, 5].backward()
    taps = {tuple(int(v) for v in p) for p in torch.nonzero(x.grad[0, 0])}
    assert taps == {(5 + i * rate, 5 + j * rate) for i in (-1, 0, 1) for j in (-1, 0, 1)}


def test_aspp_large_rate_degenerates_to_its_centre_tap() -> None:
    # the reason for the image-level branch: at rate ≥ the map's size, only the centre sees it
    torch.manual_seed(0)
    aspp = ASPP(3, 4, rates=(18,)).eval()
    conv = aspp.branches[1][0]
    x = torch.randn(2, 3, 9, 9)
    centre = F.conv2d(x, conv.weight[:, :, 1:2, 1:2])
    torch.testing.assert_close(conv(x), centre)


def test_aspp_image_pooling_branch_and_training_mode() -> None:
    torch.manual_seed(0)
    aspp = ASPP(4, 3).train()
    x = torch.randn(2, 4, 7, 5)
    y = aspp.branches[-1](x)
    assert y.shape == (2, 3, 7, 5)
    torch.testing.assert_close(y, y[:, :, :1, :1].expand_as(y))  # bilinear from 1×1: constant
    assert aspp(x).shape == (2, 3, 7, 5)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        aspp(x[:1])  # one image: the pooling branch's batch norm has a single value


def test_aspp_bad_args() -> None:
    with pytest.raises(ValueError, match="rates"):
        ASPP(8, rates=(6, 0))
    with pytest.raises(TypeError, match="rates"):
        ASPP(8, rates=6)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dropout"):
        ASPP(8, dropout=1.0)
    with pytest.raises(ValueError, match="in_channels"):
        ASPP(0)


# -- common -------------------------------------------------------------------------------------
def test_conv_norm_act_bias_only_without_norm() -> None:
    assert ConvNormAct(4, 8, 3)[0].bias is None
    assert ConvNormAct(4, 8, 3, norm_layer=None)[0].bias is not None
    assert isinstance(ConvNormAct(4, 8, 1, act_layer=nn.GELU)[-1], nn.GELU)
    with pytest.raises(ValueError, match=r"in_channels \(6\) must be divisible by groups \(4\)"):
        ConvNormAct(6, 8, 3, groups=4)
    with pytest.raises(ValueError, match="odd"):
        ConvNormAct(4, 8, 2)


def test_registry() -> None:
    assert block_class("shufflenet") is ShuffleNetUnit and BLOCKS["resnext"] is ResNeXtBlock
    assert block_class("bottleneck") is Bottleneck
    assert block_class("inverted_residual") is InvertedResidual
    assert block_class("aspp") is ASPP
    assert [block_class(f"inception_v3_{k}").__name__ for k in "abcde"] == [
        f"Inception{k}" for k in "ABCDE"]
    with pytest.raises(ValueError, match="name must be one of"):
        block_class("resnet")
