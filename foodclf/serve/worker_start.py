"""Packed into every foodclf archive as ``sitecustomize.py``: Python runs it when a TorchServe
worker of that model starts, before TorchServe's own code.

TorchServe puts the unpacked archive on the worker's PYTHONPATH, so this file is the worker's
sitecustomize (unless a folder earlier on the path holds one). It makes ``import torch`` lazy:
TorchServe's worker imports torch at start-up whatever the model (ts.protocol.otf_message_handler,
for answers that are tensors; foodclf's are JSON text), and torch costs a worker hundreds of MB.
A worker serving an exported variant (ONNX Runtime, OpenVINO) then never loads torch; one serving
the eager model loads it when the handler first uses it. TorchServe itself should import torch
only where a handler needs it; until it does, this file does that for foodclf's workers.

Standard library only: it runs before the worker's sys.path is complete.
"""
import importlib
import importlib.util
import sys
import types


class LazyModule(types.ModuleType):
    """Stands in for a module until one of its attributes is asked for; then imports the real
    module (which takes its place in sys.modules) and answers from it.

    importlib.util.LazyLoader would load torch at once here: ``import torch`` reads the module's
    ``__spec__``, which LazyLoader treats as a first use. This class has ``__spec__`` of its own
    and loads only for attributes it lacks (``torch.Tensor``, ``torch.nn``...).
    """

    def __getattr__(self, attr: str):
        name = self.__spec__.name
        if sys.modules.get(name) is self:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attr)


def lazy_import(name: str) -> None:
    """Put a LazyModule for ``name`` in sys.modules, if the module is installed and not yet imported."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return  # not installed: the import fails later, where it is used, with Python's own error
    module = LazyModule(name)
    module.__spec__ = spec
    sys.modules[name] = module


lazy_import("torch")
