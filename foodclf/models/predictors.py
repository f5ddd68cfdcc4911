"""Loading a model directory into a ``Predictor``: a callable from a batch of preprocessed images
(a float tensor (N, 3, H, W), prepared with the directory's data_config.json) to logits (N, classes).

A model directory is a run directory (foodclf.training.runs) or an exported variant laid out the same way
(foodclf.export.variants). Its model file says which runtime runs it:

    model.pt                 eager          PyTorch FoodNet (a state_dict + data_config.json)
    model.onnx               onnx           ONNX Runtime, fp32
    model.int8.onnx          int8           ONNX Runtime, INT8 (static QDQ quantisation)
    model.xml + model.bin    openvino       OpenVINO, fp32
    model.int8.xml + .bin    openvino-int8  OpenVINO, INT8 (NNCF post-training quantisation)
    model.bf16.xml + .bin    openvino-bf16  OpenVINO, bf16 (the fp32 IR, compiled for bf16)

Evaluation, the benchmarks and the TorchServe handler all load models here, so every variant is
run the same way everywhere. The runtimes are imported only when a model needs them, and torch only
by the eager variant and by ``__call__``: the exported variants' ``run`` takes and gives numpy
arrays, so a TorchServe worker serving one never imports torch.

Each variant runs at the precision PRECISIONS gives it, on every CPU. OpenVINO's own default is
bf16 wherever the CPU has bf16 instructions (AVX512-BF16, AMX): an fp32 model would silently
answer differently on such a CPU, so every OpenVINO model is compiled with an explicit
INFERENCE_PRECISION_HINT (f32 for fp32 and INT8, whose non-quantised layers stay fp32), and the
bf16 variant is refused on a CPU without bf16 (OpenVINO would run it in f32 or emulate bf16).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from foodclf import machine
from foodclf.errors import RunDirError

if TYPE_CHECKING:
    import torch

    from foodclf.evaluation.operational import Predictor

log = logging.getLogger(__name__)

EAGER = "eager"
# variant -> the model file that identifies it (OpenVINO keeps its weights in a .bin beside the .xml)
MODEL_FILES = {
    EAGER: "model.pt",
    "onnx": "model.onnx",
    "int8": "model.int8.onnx",
    "openvino": "model.xml",
    "openvino-int8": "model.int8.xml",
    "openvino-bf16": "model.bf16.xml",
}
# variant -> the arithmetic it runs in on every CPU (recorded in variant.json as "precision")
PRECISIONS = {
    EAGER: "fp32",
    "onnx": "fp32",
    "int8": "int8",
    "openvino": "fp32",
    "openvino-int8": "int8",
    "openvino-bf16": "bf16",
}
# precision -> OpenVINO's INFERENCE_PRECISION_HINT: INT8 models keep their other layers in f32
OPENVINO_HINTS = {"fp32": "f32", "int8": "f32", "bf16": "bf16"}
# ONNX model metadata (metadata_props) naming the int8 format's weight range: it travels with the
# model file into archives, where variant.json does not.
INT8_RANGE_KEY = "foodclf.int8_range"
INPUT_NAME = "images"    # the exported graphs' input and output names
OUTPUT_NAME = "logits"


def model_files(model_file: Path) -> list[Path]:
    """Every file the model needs: the model file, and OpenVINO's weights beside its .xml."""
    if model_file.suffix == ".xml":
        return [model_file, model_file.with_suffix(".bin")]
    return [model_file]


def find_model(model_dir: str | os.PathLike) -> tuple[str, Path]:
    """(variant, model file) of a model directory; RunDirError when it holds none, or several."""
    model_dir = Path(model_dir)
    found = [(variant, model_dir / name) for variant, name in MODEL_FILES.items() if (model_dir / name).is_file()]
    if not found:
        raise RunDirError(f"{model_dir}: no model file ({', '.join(MODEL_FILES.values())}); train a run with "
                          "foodclf train or export a variant with foodclf export")
    if len(found) > 1:
        raise RunDirError(f"{model_dir}: several model files ({', '.join(p.name for _, p in found)}); "
                          "a model directory holds one model: keep one, export variants to their own folders")
    return found[0]


def load_predictor(model_dir: str | os.PathLike, threads: int | None = None) -> Predictor:
    """The model of ``model_dir`` as a Predictor, running on ``threads`` CPU threads (default: torch's
    current setting, so that every runtime is measured with the same number)."""
    if not threads:
        import torch

        threads = torch.get_num_threads()
    variant, model_file = find_model(model_dir)
    if variant == EAGER:
        from foodclf.training.runs import load_run  # runs imports models; keep this module light for the handler
        return load_run(model_dir).load_model()
    for file in model_files(model_file):
        if not file.is_file():
            raise RunDirError(f"{file}: missing; export the variant again with foodclf export")
    if model_file.suffix == ".onnx":
        return OnnxRuntimePredictor(model_file, threads, variant)
    check_cpu_precision(variant, model_file)
    return OpenVinoPredictor(model_file, threads, PRECISIONS[variant])


def load_runner(model_dir: str | os.PathLike, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """The model of ``model_dir`` as the TorchServe handler runs it: a float32 batch (N, 3, H, W) in,
    logits out, numpy arrays both, on ``threads`` threads."""
    if find_model(model_dir)[0] == EAGER:
        return eager_runner(load_predictor(model_dir, threads=threads), threads)
    return load_predictor(model_dir, threads=threads).run


def eager_runner(model, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """An eager PyTorch model (eval mode) as an exported variant's ``run``, on ``threads`` torch threads."""
    import torch

    torch.set_num_threads(threads)

    def run(images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(images)).numpy()
    return run


def check_cpu_precision(variant: str, model_file: Path) -> None:
    """RunDirError for a bf16 variant on a CPU without bf16 instructions."""
    if PRECISIONS[variant] == "bf16" and not machine.has_bf16():
        raise RunDirError(
            f"{model_file}: the {variant} variant needs bf16 instructions ({' or '.join(machine.BF16_FEATURES)}), "
            f"which this CPU lacks ({machine.machine_line()}); OpenVINO would silently run it in f32 or emulate "
            f"bf16. Serve the fp32 'openvino' variant here, or this one on a CPU with bf16")


def warn_if_int8_saturates(variant: str, model_file: Path, int8_range: str | None) -> None:
    """Full-range (8-bit) INT8 weights overflow the 16-bit sums of the AVX2 kernels ONNX Runtime
    uses on CPUs without VNNI: the answers drift far from the model's (docs/export.md)."""
    if int8_range == "full" and not machine.has_int8_dot_product():
        log.warning("%s (%s variant, %s): full-range INT8 weights on a CPU without VNNI (%s): ONNX Runtime's "
                    "16-bit sums saturate and its answers drift; export it again with int8_range=\"reduced\" "
                    "(foodclf export --int8-range reduced), which answers the same on every CPU",
                    model_file.parent.name, variant, model_file.name, machine.machine_line())


class OnnxRuntimePredictor:
    """An ONNX model run by ONNX Runtime's CPU provider, ``threads`` intra-op threads, sequential."""

    def __init__(self, model_file: str | os.PathLike, threads: int, variant: str = "onnx"):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # a CNN is one chain of ops: nothing runs beside it
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise RunDirError(f"{model_file}: ONNX Runtime cannot load it ({e}); export it again") from e
        self.model_file = Path(model_file)
        self.threads = threads
        self.int8_range = self.session.get_modelmeta().custom_metadata_map.get(INT8_RANGE_KEY)
        warn_if_int8_saturates(variant, self.model_file, self.int8_range)

    def run(self, images: np.ndarray) -> np.ndarray:
        """Logits (N, classes) of a float32 batch (N, 3, H, W)."""
        (logits,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(images, dtype=np.float32)})
        return logits

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return _through_numpy(self.run, images)


class OpenVinoPredictor:
    """An OpenVINO IR model compiled for the CPU with one stream of ``threads`` threads, at
    ``precision`` (fp32, int8 or bf16) whatever the CPU."""

    def __init__(self, model_file: str | os.PathLike, threads: int, precision: str = "fp32"):
        import openvino as ov

        self.config = {
            "PERFORMANCE_HINT": "LATENCY",   # one stream: one request at a time, all threads on it
            "INFERENCE_NUM_THREADS": threads,
            # No pinning: TorchServe workers and other processes share the cores with us.
            "ENABLE_CPU_PINNING": False,
            # Explicit: OpenVINO defaults to bf16 on CPUs with bf16 instructions (0.013 from eager
            # on an AMX Xeon for an fp32 model, against 1e-6 with f32).
            "INFERENCE_PRECISION_HINT": OPENVINO_HINTS[precision],
        }
        try:
            self.compiled = ov.Core().compile_model(str(model_file), "CPU", self.config)
        except Exception as e:  # openvino raises RuntimeError subclasses of its own
            raise RunDirError(f"{model_file}: OpenVINO cannot load it ({e}); export it again") from e
        self.request = self.compiled.create_infer_request()
        self.model_file = Path(model_file)
        self.threads = threads
        self.precision = precision

    def run(self, images: np.ndarray) -> np.ndarray:
        """Logits (N, classes) of a float32 batch (N, 3, H, W)."""
        self.request.infer({0: np.ascontiguousarray(images, dtype=np.float32)})
        # The output tensor's memory is reused by the next call: copy it out.
        return self.request.get_output_tensor(0).data.copy()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return _through_numpy(self.run, images)


def _through_numpy(run, images: torch.Tensor) -> torch.Tensor:
    """The Predictor interface (tensors) over a runtime's ``run`` (numpy arrays)."""
    import torch

    return torch.from_numpy(run(images.detach().cpu().numpy()))
