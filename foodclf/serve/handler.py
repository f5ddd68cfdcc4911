"""TorchServe handler for foodclf archives: image bytes in, top-k classes as JSON out.

Request: the image file's bytes as the body (``curl -T photo.jpg URL`` or ``--data-binary``)
or as a multipart form field named ``data``, ``file`` or ``image``. The header ``X-TopK: 3``
(or a form field ``topk``) asks for that many classes, 1..number of classes; default
min(5, number of classes). (TorchServe drops the query string of /predictions/NAME, so
``?topk=3`` is ignored.)

Answer (200): ``{"predictions": [{"label": "Bread", "index": 0, "probability": 0.91}, ...]}``,
the k most probable classes, most probable first. A bad request (empty body, not an image,
truncated, too small, too many pixels, bad topk) answers 400 with
``{"code": 400, "type": "BadRequest", "message": "..."}``, for that request only: the others of
the batch succeed and the worker stays up.

Preprocessing is the run's evaluation transform, built from the archived data_config.json
(foodclf.data.preprocess.EvalArrays: Pillow and numpy, what EvalPreset runs), and images are
decoded by foodclf.data.images.open_rgb: what evaluation does in process, except that a JPEG at
least twice the model's size is decoded in draft mode (scaled down by libjpeg, never below the
model's size; docs/export.md gives the tolerance). The model is the archive's model.pt (eager
PyTorch) or an exported variant's model file (model.onnx, model.int8.onnx, model.xml, ...:
foodclf.models.predictors picks the runtime, on the same threads). Handler settings come from the
``handler:`` section of the archive's model-config.yaml (see foodclf.serve.archive):
torch_threads, min_side, max_pixels.

A worker imports no runtime its variant does not run: TorchServe needs a class with
``initialize`` and ``handle``, not its BaseHandler, whose module imports OpenVINO's torch.compile
backend and ONNX Runtime in every worker (about 60 MiB of a worker's own memory, docs/serve.md).
foodclf.models.predictors imports a runtime when a model needs it. torch and torchvision are
imported only for the eager model: an exported variant's worker runs numpy arrays through its
runtime, and the archive's sitecustomize.py (foodclf/serve/worker_start.py) keeps TorchServe's
own ``import torch`` from loading it; answers are JSON text for the same reason.
"""
import importlib
import json
import logging
import os
from pathlib import Path

import numpy as np
from ts.utils.util import list_classes_from_module

import foodclf
from foodclf.data.data_config import DataConfig
from foodclf.data.images import DEFAULT_MAX_PIXELS, ImageDecodeError
from foodclf.data.preprocess import EvalArrays
from foodclf.models.predictors import EAGER, eager_runner, find_model, load_predictor
from foodclf.serve.settings import DEFAULT_MIN_SIDE, MALLOC_ENV, THREADS_ENV, threads_per_worker

log = logging.getLogger(__name__)

IMAGE_FIELDS = ("body", "data", "file", "image")
DEFAULT_TOPK = 5
TOPK_HEADER = "x-topk"
BATCH_HEADER = "X-Batch-Size"  # how many requests the answer's inference batch held
JSON = "application/json"
ERROR_TYPES = {400: "BadRequest", 500: "InternalServerError"}


class FoodHandler:
    """Loads the archive's model (FoodModel with model.pt, or an exported variant's model file);
    classifies a batch of images."""

    def initialize(self, context):
        quiet_per_request_log()
        settings = (getattr(context, "model_yaml_config", None) or {}).get("handler", {}) or {}
        threads = torch_threads(settings, context)
        model_dir = Path(context.system_properties["model_dir"])
        self.variant, model_file = find_model(model_dir)
        if self.variant == EAGER:
            self.run = eager_runner(load_eager_model(context.manifest, model_file), threads)
        else:  # an exported variant (foodclf.export.variants): its own runtime, numpy in and out, no torch
            self.run = load_predictor(model_dir, threads=threads).run
        self.data_config = DataConfig.load(model_dir / "data_config.json")
        self.preprocess = EvalArrays(self.data_config)
        self.classes = read_classes(model_dir / "index_to_name.json", self.data_config.num_classes)
        self.min_side = int(settings.get("min_side", DEFAULT_MIN_SIDE))
        self.max_pixels = int(settings.get("max_pixels", DEFAULT_MAX_PIXELS))
        # Which foodclf the worker imported (a checkout, a wheel), and the allocator setting as it
        # sees it (docs/serve.md): /proc/PID/environ cannot tell, because glibc 2.36 cuts
        # GLIBC_TUNABLES short there while it reads it.
        log.info("foodclf handler: %s (%s), %d classes, %d px, %d threads, foodclf from %s, GLIBC_TUNABLES=%s",
                 self.data_config.backbone, self.variant, len(self.classes), self.data_config.image_size,
                 threads, Path(foodclf.__file__).parent, os.environ.get(MALLOC_ENV, "(unset)"))

    def handle(self, data, context):
        """One answer per request; a bad request gets its own 400 and never fails the batch."""
        answers = [None] * len(data)
        images, good = [], []
        for idx, request in enumerate(data):
            try:
                topk = self.parse_topk(request_topk(request, context, idx))
                images.append(self.preprocess_one(request))
                good.append((idx, topk))
            except (ImageDecodeError, ValueError) as e:
                answers[idx] = self.error(context, idx, 400, str(e))
            except Exception as e:  # a bug, not bad input: fail this request only, keep the batch
                log.exception("request %d of the batch failed", idx)
                answers[idx] = self.error(context, idx, 500, f"cannot classify this image ({type(e).__name__})")
        if images:
            probabilities = softmax(self.run(np.stack(images)))
            for (idx, topk), row in zip(good, probabilities):
                answers[idx] = self.top_classes(row, topk)
                context.set_response_content_type(idx, JSON)
        for idx in range(len(data)):  # lets a client or a load test see that batching happens
            context.set_response_header(idx, BATCH_HEADER, str(len(data)))
        # JSON text, not dicts: TorchServe checks whether a dict answer is a torch.Tensor, which
        # would load torch into a worker that has no use for it (foodclf/serve/worker_start.py).
        return [json.dumps(answer) for answer in answers]

    def preprocess_one(self, request: dict) -> np.ndarray:
        return self.preprocess.from_bytes(image_bytes(request), max_pixels=self.max_pixels, min_side=self.min_side)

    def parse_topk(self, value) -> int:
        default = min(DEFAULT_TOPK, len(self.classes))
        if value is None:
            return default
        if isinstance(value, (bytes, bytearray)):
            value = value.decode("utf-8", errors="replace")
        try:
            topk = int(str(value).strip())
        except ValueError:
            topk = 0
        if not 1 <= topk <= len(self.classes):
            raise ValueError(f"topk must be a whole number from 1 to {len(self.classes)}, got '{value}'")
        return topk

    def top_classes(self, probabilities: np.ndarray, topk: int) -> dict:
        indices = np.argsort(-probabilities, kind="stable")[:topk].tolist()
        return {"predictions": [
            {"label": self.classes[i], "index": i, "probability": float(probabilities[i])} for i in indices
        ]}

    @staticmethod
    def error(context, idx: int, code: int, message: str) -> dict:
        # The reason phrase is an HTTP header line: one line of ASCII.
        phrase = message.splitlines()[0][:200].encode("ascii", "replace").decode("ascii")
        context.set_response_status(code, phrase, idx)
        context.set_response_content_type(idx, JSON)
        return {"code": code, "type": ERROR_TYPES.get(code, "Error"), "message": message}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (probabilities as the JSON answer shows them)."""
    shifted = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def load_eager_model(manifest: dict, weights: Path):
    """The archive's model file's one nn.Module class (FoodModel, built from data_config.json)
    with ``weights`` loaded as a plain state_dict, in eval mode. TorchServe put the unpacked
    archive on sys.path before loading the handler."""
    import torch  # only the eager variant needs it

    module = importlib.import_module(Path(manifest["model"]["modelFile"]).stem)
    classes = list_classes_from_module(module, torch.nn.Module)
    if len(classes) != 1:
        raise ValueError(f"{module.__file__}: expected one nn.Module class, found {len(classes)}")
    model = classes[0]()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def quiet_per_request_log() -> None:
    """Drop the line TorchServe's worker logs for every request ("Backend received inference at:
    ..."): the frontend would read, parse and filter it (foodclf/serve/log4j2.xml) for nothing."""
    root = logging.getLogger()  # the worker logs it with logging.info, i.e. on the root logger
    if _not_per_request not in root.filters:
        root.addFilter(_not_per_request)


def _not_per_request(record: logging.LogRecord) -> bool:
    # A function, not a logging.Filter class: TorchServe wants exactly one class in a handler module.
    return not str(record.msg).startswith("Backend received inference at")


def request_topk(request: dict, context, idx: int):
    """The ``topk`` form field, else the ``X-TopK`` header, else None.

    TorchServe drops the query string of /predictions/NAME before the handler sees it, so
    ``?topk=3`` cannot work there; a header works with any body.
    """
    if "topk" in request:
        return request["topk"]
    try:
        headers = context.get_all_request_header(idx) or {}
    except (AttributeError, IndexError, KeyError, TypeError):  # no request processor (offline use)
        return None
    return next((v for k, v in headers.items() if str(k).lower() == TOPK_HEADER), None)


def image_bytes(request: dict) -> bytes:
    """The uploaded image of one request; TorchServe decodes text and JSON bodies, which are no images."""
    for field in IMAGE_FIELDS:
        if field in request:
            value = request[field]
            if isinstance(value, (bytes, bytearray)):
                return bytes(value)
            raise ImageDecodeError(f"the '{field}' field is {type(value).__name__} data, not an image file: "
                                   "send the image's bytes (e.g. curl -T photo.jpg)")
    raise ImageDecodeError("the request body is empty: send the image file's bytes (e.g. curl -T photo.jpg) "
                           f"or a form field named {', '.join(IMAGE_FIELDS[1:])}")


def read_classes(path: Path, num_classes: int) -> list[str]:
    """index_to_name.json ({"0": "Bread", ...}) as a list in index order."""
    mapping = json.loads(path.read_text(encoding="utf-8"))
    classes = [mapping[str(i)] for i in range(len(mapping))]
    if len(classes) != num_classes:
        raise ValueError(f"{path}: {len(classes)} classes, but data_config.json says {num_classes}")
    return classes


def torch_threads(settings: dict, context) -> int:
    """Threads for this worker: $FOODCLF_TORCH_THREADS (the deployment's choice), else the
    archive's handler.torch_threads, else the usable cores shared by the archive's maxWorkers."""
    threads = int(os.environ.get(THREADS_ENV) or 0) or int(settings.get("torch_threads") or 0)
    return max(1, threads or threads_per_worker(max_workers(context)))


def max_workers(context) -> int:
    """Workers that will share the cores: the archive's maxWorkers (1 if it does not say)."""
    config = getattr(context, "model_yaml_config", None) or {}
    return max(1, int(config.get("maxWorkers") or config.get("minWorkers") or 1))
