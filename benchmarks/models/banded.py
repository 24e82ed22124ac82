"""Short strided 1-D convolutions computed as one matmul with a banded kernel.

The CNN VAE's convolutions (protocol §6: kernel 4, stride 2, padding 1) run over lengths 16 down to 1
with up to 128 channels. At these sizes oneDNN's convolution kernels, their backward ones above all,
reach about a third of matmul speed on a CPU (perf/PROFILE.md). A convolution over a sequence this
short is also a linear map from the whole flattened input (``L_in × C``) to the whole output
(``L_out × F``): a matrix whose blocks are the kernel's taps, placed where each tap connects an input
slot to an output slot, and zero elsewhere. Building that matrix from the layer's own kernel (one
small einsum with a constant 0/1 placement tensor) and applying it as one matmul computes the same
sums, forward and backward, in less than half the time for the encoder's four convolutions and
three quarters of it for the decoder's transposed ones (one CPU thread, batch 512).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops


def tap_placement(length_in: int, length_out: int, kernel_size: int, stride: int, transposed: bool) -> np.ndarray:
    """``P[k, i, o] = 1`` where tap ``k`` connects input slot ``i`` to output slot ``o`` under Keras'
    "same" padding (TensorFlow's rule: the padding the forward convolution needs, left half rounded
    down; a transposed convolution is the forward one from its output length back to its input length)."""
    short, long = (length_in, length_out) if transposed else (length_out, length_in)
    pad_left = max((short - 1) * stride + kernel_size - long, 0) // 2
    placement = np.zeros((kernel_size, length_in, length_out), np.float32)
    for s in range(short):
        for k in range(kernel_size):
            l = stride * s + k - pad_left  # the long side's slot that tap k joins to slot s of the short side
            if 0 <= l < long:
                placement[(k, s, l) if transposed else (k, l, s)] = 1.0
    return placement


def _check(layer) -> None:
    if layer.padding != "same" or layer.data_format != "channels_last" or layer.dilation_rate != (1,) \
            or getattr(layer, "groups", 1) != 1:
        raise ValueError(f"{layer.name}: only ungrouped, undilated, channels-last convolutions with 'same' "
                         "padding are computed as banded matmuls")


def banded_convolution(layer, inputs, kernel=None, bias=None):
    """``layer(inputs)`` for a built ``keras.layers.Conv1D`` or ``Conv1DTranspose``, from its own kernel
    and bias, as one matmul (the module's docstring says why).

    ``kernel`` and ``bias`` replace the layer's; with a leading axis of K stacked copies
    (:mod:`benchmarks.models.stacked`), ``inputs`` carries the same leading axis: (K, batch, length, channels).
    """
    _check(layer)
    transposed = isinstance(layer, keras.layers.Conv1DTranspose)
    kernel = layer.kernel if kernel is None else kernel
    bias = layer.bias if bias is None and layer.use_bias else bias
    stacked = len(kernel.shape) - 3  # leading axes of stacked copies: 0 or 1
    length_in, channels = inputs.shape[-2], inputs.shape[-1]
    (stride,), (kernel_size,) = layer.strides, layer.kernel_size
    length_out = length_in * stride if transposed else -(-length_in // stride)
    placement = ops.convert_to_tensor(tap_placement(length_in, length_out, kernel_size, stride, transposed))
    # Keras stores a transposed kernel as (taps, filters, channels), a forward one as (taps, channels, filters).
    if transposed:
        kernel = ops.swapaxes(kernel, -1, -2)
    filters = kernel.shape[-1]
    # (Explicit subscripts: TensorFlow's einsum with an ellipsis was many times slower here.)
    matrix = ops.einsum("kio,nkcf->nicof" if stacked else "kio,kcf->icof", placement, kernel)
    matrix = ops.reshape(matrix, (*kernel.shape[:stacked], length_in * channels, length_out * filters))
    leading = tuple(inputs.shape[:stacked])
    outputs = ops.matmul(ops.reshape(inputs, (*leading, -1, length_in * channels)), matrix)
    outputs = ops.reshape(outputs, (*leading, -1, length_out, filters))
    if bias is not None:
        outputs = outputs + ops.reshape(bias, (*bias.shape[:stacked], 1, 1, filters))
    return layer.activation(outputs) if layer.activation is not None else outputs


@keras.saving.register_keras_serializable(package="dmelodies")
class BandedConv1DTranspose(keras.layers.Conv1DTranspose):
    """``keras.layers.Conv1DTranspose`` with the same weights and configuration, computed by
    :func:`banded_convolution` (the decoder may use the package's layers; the encoder may not)."""

    def call(self, inputs):
        return banded_convolution(self, inputs)
