"""The same answers on every CPU: which formats this CPU can build, and the int8 format's weights.

Machines of one kind come with different CPUs (an AVX2-only AMD EPYC; an Intel Xeon with
AVX-512, VNNI and AMX), and an archive exported on one may be served on the other.

- bf16 (``openvino-bf16``) is built only on a CPU with bf16 instructions: elsewhere OpenVINO
  would run it in f32 or emulate bf16, so what was evaluated would not be what is served.
- INT8 with ONNX Runtime (``int8``): on CPUs without VNNI its UINT8 x INT8 kernels (VPMADDUBSW)
  add pairs of products into 16-bit sums, which saturate with 8-bit weights (255 x 127 x 2 >
  32767) and not with 7-bit ones (255 x 63 x 2 = 32130). Measured on the tests' trained baseline
  here (AVX2): largest probability error against eager 0.23 with full-range weights, 0.025 with
  reduced ones (docs/export.md). With VNNI both are exact, so 7-bit weights cost only their
  coarser rounding. ``auto`` therefore means ``reduced`` on every CPU: the exporting CPU cannot
  know the serving one, and reduced-range variants answer the same on both kinds.
"""
from __future__ import annotations

from collections.abc import Callable

from foodclf import machine
from foodclf.contracts.variant import INT8_RANGES, Int8Range
from foodclf.export.errors import ExportError

AUTO_INT8_RANGE = "reduced"
AUTO_REASON = ("auto: 7-bit weights on every CPU, because the variant may be served on a CPU without VNNI, "
               "where ONNX Runtime's 16-bit sums saturate with 8-bit weights; with 7-bit ones it answers "
               "the same with or without VNNI")
FULL_REASON = ("asked for: 8-bit weights round more finely but saturate ONNX Runtime's 16-bit sums on CPUs "
               "without VNNI (AVX2 only); serve this variant only on CPUs with VNNI or AMX")
REDUCED_REASON = "asked for: 7-bit weights, the same answers with or without VNNI"

# format -> (what it needs, whether this CPU has it, the /proc/cpuinfo flags that provide it)
CPU_REQUIREMENTS: dict[str, tuple[str, Callable[[], bool], tuple[str, ...]]] = {
    "openvino-bf16": ("bf16 instructions", lambda: machine.has_bf16(), machine.BF16_FEATURES),
}


def cpu_supports(fmt: str) -> bool:
    """Whether this CPU can build and run ``fmt`` at its stated precision."""
    requirement = CPU_REQUIREMENTS.get(fmt)
    return requirement is None or requirement[1]()


def check_cpu(fmt: str) -> None:
    """ExportError naming the variant, the missing instructions and this CPU's features."""
    if not cpu_supports(fmt):
        what, _, flags = CPU_REQUIREMENTS[fmt]
        raise ExportError(f"format '{fmt}' needs {what} ({' or '.join(flags)}), which this CPU lacks "
                          f"({machine.machine_line()}); export it on a CPU that has them (an Intel Xeon "
                          "with AVX512-BF16 or AMX), and the fp32 'openvino' variant here")


def resolve_int8_range(asked: str) -> Int8Range:
    """The int8 format's weight range for the export option ``asked`` (auto, reduced or full)."""
    if asked not in INT8_RANGES:
        raise ExportError(f"int8 range '{asked}' is not one of {', '.join(INT8_RANGES)}")
    if asked == "auto":
        return Int8Range(asked=asked, choice=AUTO_INT8_RANGE, reason=AUTO_REASON)
    return Int8Range(asked=asked, choice=asked, reason=FULL_REASON if asked == "full" else REDUCED_REASON)
