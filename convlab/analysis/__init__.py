"""Analysis: output-size relations (:mod:`.shapes`) and model cost counts (:mod:`.cost`)."""

from .cost import count_macs, count_params
from .shapes import conv_output_size, conv_transpose_output_size

__all__ = ["conv_output_size", "conv_transpose_output_size", "count_macs", "count_params"]
