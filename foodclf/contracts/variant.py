"""variant.json: how an exported variant was made (written by foodclf.export.variants).

    record = read_variant("runs/food/variants/food-int8")   # a file, or a variant folder
    record.precision, record.int8_range.choice, record.exported_on.isa

``precision`` is the arithmetic the variant is compiled for on every CPU (fp32, bf16 or int8: the
INT8 formats keep their non-quantised layers in fp32). ``int8_range`` says how the ``int8``
format's weights were quantised and why (None for the other formats); ``exported_on`` is the
machine that exported it: an archive may be served on another kind of CPU.

Schema 2 (from 1): ``precision``, ``int8_range`` and ``exported_on`` added, all required.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

from foodclf.contracts import contract, file_in, read
from foodclf.contracts.machine import Machine

VARIANT_FILE = "variant.json"
SCHEMA_VERSION = 2
Precision = Literal["fp32", "bf16", "int8"]
Int8RangeOption = Literal["auto", "reduced", "full"]
PRECISIONS = get_args(Precision)
INT8_RANGES = get_args(Int8RangeOption)


@contract
class CalibrationRecord:
    """The images whose activation ranges calibrated an INT8 variant."""
    split: str                       # the dataset split they were drawn from (training)
    images: int


@contract
class Int8Range:
    """The ``int8`` format's weight range: 7-bit (reduced) or 8-bit (full) INT8 weights."""
    asked: Int8RangeOption                      # the export option
    choice: Literal["reduced", "full"]          # what was built
    reason: str                                 # why, in words


@contract
class Variant:
    schema_version: Literal[SCHEMA_VERSION]   # 2
    created: str                     # ISO 8601, UTC
    format: str                      # onnx | int8 | openvino | openvino-int8 | openvino-bf16
    precision: Precision
    source_run: str                  # absolute path of the run it was exported from
    backbone: str
    model_file: str                  # the file that identifies the variant (model.int8.onnx, model.bf16.xml, ...)
    calibration: CalibrationRecord | None   # None for the formats that need none
    int8_range: Int8Range | None     # the int8 format only
    exported_on: Machine             # the CPU (and its ISA features) that exported it
    versions: dict[str, str]         # torch and each package the format needs


def variant_path(path_or_dir: str | os.PathLike) -> Path:
    return file_in(path_or_dir, VARIANT_FILE)


def read_variant(path_or_dir: str | os.PathLike) -> Variant:
    """Read and validate a variant.json (or a variant folder holding one); SchemaError names the
    file and the field; a variant of another schema_version is refused first, saying to export it again."""
    return read(variant_path(path_or_dir), Variant, SCHEMA_VERSION,
                "export the variant again (foodclf export RUN_DIR --data DATA --format FORMAT)")
