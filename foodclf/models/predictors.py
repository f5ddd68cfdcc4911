"""Loading a model directory into a ``Predictor``: a callable from a batch of preprocessed images
(a float tensor (N, 3, H, W), prepared with the directory's data_config.json) to logits (N, classes).

A model directory is a run directory (foodclf.training.runs) or an exported variant laid out the same way
(foodclf.export.variants). Its model file says which runtime runs it:

    model.pt                 eager          PyTorch FoodNet (a state_dict + data_config.json)
    model.onnx               onnx           ONNX Runtime, fp32
    model.int8.onnx          int8           ONNX Runtime, INT8 (static QDQ quantisation)
    model.xml + model.bin    openvino       OpenVINO, fp32
    model.int8.xml + .bin    openvino-int8  OpenVINO, INT8 (NNCF post-training quantisation)

Evaluation, the benchmarks and the TorchServe handler all load models here, so every variant is
run the same way everywhere. The runtimes are imported only when a model needs them.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from foodclf.errors import RunDirError
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
}
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
                          "scripts/train.py or export a variant with scripts/export.py")
    if len(found) > 1:
        raise RunDirError(f"{model_dir}: several model files ({', '.join(p.name for _, p in found)}); "
                          "a model directory holds one model: keep one, export variants to their own folders")
    return found[0]


def load_predictor(model_dir: str | os.PathLike, threads: int | None = None) -> Predictor:
    """The model of ``model_dir`` as a Predictor, running on ``threads`` CPU threads (default: torch's
    current setting, so that every runtime is measured with the same number)."""
    threads = threads or torch.get_num_threads()
    variant, model_file = find_model(model_dir)
    if variant == EAGER:
        from foodclf.training.runs import load_run  # runs imports models; keep this module light for the handler
        return load_run(model_dir).load_model()
    for file in model_files(model_file):
        if not file.is_file():
            raise RunDirError(f"{file}: missing; export the variant again with scripts/export.py")
    if model_file.suffix == ".onnx":
        return OnnxRuntimePredictor(model_file, threads)
    return OpenVinoPredictor(model_file, threads)


class OnnxRuntimePredictor:
    """An ONNX model run by ONNX Runtime's CPU provider, ``threads`` intra-op threads, sequential."""

    def __init__(self, model_file: str | os.PathLike, threads: int):
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

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        (logits,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: _numpy(images)})
        return torch.from_numpy(logits)


class OpenVinoPredictor:
    """An OpenVINO IR model compiled for the CPU with one stream of ``threads`` threads."""

    def __init__(self, model_file: str | os.PathLike, threads: int):
        import openvino as ov

        config = {
            "PERFORMANCE_HINT": "LATENCY",   # one stream: one request at a time, all threads on it
            "INFERENCE_NUM_THREADS": threads,
            # No pinning: TorchServe workers and other processes share the cores with us.
            "ENABLE_CPU_PINNING": False,
        }
        try:
            self.compiled = ov.Core().compile_model(str(model_file), "CPU", config)
        except Exception as e:  # openvino raises RuntimeError subclasses of its own
            raise RunDirError(f"{model_file}: OpenVINO cannot load it ({e}); export it again") from e
        self.request = self.compiled.create_infer_request()
        self.model_file = Path(model_file)
        self.threads = threads

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.request.infer({0: _numpy(images)})
        # The output tensor's memory is reused by the next call: copy it out.
        return torch.from_numpy(self.request.get_output_tensor(0).data.copy())


def _numpy(images: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32)
