"""Analysis: output-size relations (:mod:`.shapes`), model cost counts (:mod:`.cost`), receptive
fields by the recursion and by measurement (:mod:`.receptive_field`), and separable and low-rank
kernels (:mod:`.separable`)."""

from .cost import count_macs, count_params
from .receptive_field import (
    ReceptiveField,
    measured_receptive_field,
    receptive_field,
    receptive_field_map,
)
from .separable import kernel_rank, low_rank_kernel, separable_factors, singular_values
from .shapes import conv_output_size, conv_transpose_output_size

__all__ = [
    "ReceptiveField",
    "conv_output_size",
    "conv_transpose_output_size",
    "count_macs",
    "count_params",
    "kernel_rank",
    "low_rank_kernel",
    "measured_receptive_field",
    "receptive_field",
    "receptive_field_map",
    "separable_factors",
    "singular_values",
]
