"""The model file of each format, built from the run's fp32 ONNX graph.

    onnx           fp32 ONNX (torch.onnx's torch.export-based exporter), run by ONNX Runtime
    int8           ONNX Runtime static quantisation of that graph: QDQ, per-channel INT8 weights
                   (7-bit unless int8_range says full: foodclf.export.portability), UINT8
                   activations, calibrated on training images
    openvino       the ONNX graph converted to OpenVINO IR (fp32), run by OpenVINO in f32
    openvino-int8  NNCF post-training quantisation of the OpenVINO model, same calibration images
    openvino-bf16  the fp32 IR under its own name, compiled for bf16 when loaded

Each builder writes ``model_file`` from a BuildInputs; the precision each format runs at is
foodclf.models.predictors.PRECISIONS.
"""
from __future__ import annotations

import contextlib
import io
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from foodclf.export.calibration import Calibration
from foodclf.export.errors import ExportError
from foodclf.export.portability import AUTO_INT8_RANGE
from foodclf.models.predictors import INPUT_NAME, INT8_RANGE_KEY, OUTPUT_NAME, model_files
from foodclf.training.runs import Run

log = logging.getLogger(__name__)


@dataclass
class BuildInputs:
    onnx_file: Path                          # the run's fp32 graph (export_onnx)
    calibration: Calibration | None = None   # the INT8 formats' calibration images
    int8_range: str = AUTO_INT8_RANGE        # "reduced" or "full": the int8 format's weights


def export_onnx(run: Run, path: Path) -> Path:
    """The run's FoodNet as one fp32 ONNX file, batch size dynamic, input 'images' -> 'logits'."""
    model = run.load_model()
    size = run.data_config.image_size
    example = torch.zeros(1, 3, size, size)
    try:
        # The torch.export-based exporter (the default since torch 2.9; the TorchScript one is deprecated).
        # It prints its progress whatever ``verbose`` says; library code logs instead.
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            torch.onnx.export(model, (example,), str(path), dynamo=True, external_data=False,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
        log.debug("torch.onnx.export: %s", printed.getvalue())
    except Exception as e:
        raise ExportError(f"torch.onnx.export failed for {run.data_config.backbone} ({type(e).__name__}: {e})") from e
    return path


def copy_onnx(inputs: BuildInputs, model_file: Path) -> None:
    shutil.copy2(inputs.onnx_file, model_file)


def quantize_onnxruntime(inputs: BuildInputs, model_file: Path) -> None:
    """ONNX Runtime static quantisation, QDQ format: per-channel INT8 weights (7-bit with the
    ``reduced`` range), UINT8 activations with MinMax ranges from the calibration images. The range
    is written into the model's metadata, so that a loader anywhere (an archive too) can warn."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.images = iter(inputs.calibration.images)

        def get_next(self):
            image = next(self.images, None)
            return None if image is None else {INPUT_NAME: image.numpy()}

    # Shape inference and graph fusions (Conv+BN) first, as ONNX Runtime recommends before quantising.
    prepared = model_file.with_name("prepared.onnx")
    quant_pre_process(str(inputs.onnx_file), str(prepared))
    quantize_static(str(prepared), str(model_file), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=inputs.int8_range == "reduced", activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    prepared.unlink()
    model = onnx.load(str(model_file))
    entry = model.metadata_props.add()
    entry.key, entry.value = INT8_RANGE_KEY, inputs.int8_range
    onnx.save(model, str(model_file))


def convert_openvino(inputs: BuildInputs, model_file: Path) -> None:
    """OpenVINO IR of the ONNX graph; also the bf16 variant's (its precision is chosen when compiled)."""
    import openvino as ov

    # compress_to_fp16 off: the IR keeps the exported weights bit for bit.
    ov.save_model(ov.convert_model(str(inputs.onnx_file)), str(model_file), compress_to_fp16=False)
    _check_written(model_file)


def quantize_openvino(inputs: BuildInputs, model_file: Path) -> None:
    """NNCF post-training quantisation (its default preset: symmetric INT8, bias correction)."""
    import nncf
    import openvino as ov

    model = ov.convert_model(str(inputs.onnx_file))
    dataset = nncf.Dataset([image.numpy() for image in inputs.calibration.images])
    quantized = nncf.quantize(model, dataset, subset_size=len(inputs.calibration.images))
    ov.save_model(quantized, str(model_file), compress_to_fp16=False)
    _check_written(model_file)


def _check_written(model_file: Path) -> None:
    for file in model_files(model_file):
        if not file.is_file():
            raise ExportError(f"{file}: OpenVINO did not write it")


BUILDERS: dict[str, Callable[[BuildInputs, Path], None]] = {
    "onnx": copy_onnx,
    "int8": quantize_onnxruntime,
    "openvino": convert_openvino,
    "openvino-int8": quantize_openvino,
    "openvino-bf16": convert_openvino,
}
