"""foodclf's small kustomize (foodclf.deploy.kustomize): JSON 6902 patches, and a clear refusal of
what it does not support (test_manifests.py holds it to kubectl on the real overlays)."""
from __future__ import annotations

import pytest

from foodclf.deploy.kustomize import apply_json_patch, build
from foodclf.errors import SchemaError

DOC = {"kind": "Deployment", "metadata": {"name": "a"}, "spec": {"list": [1, 2], "a/b": {"c": 1}}}


def test_json_patch_operations():
    ops = [{"op": "replace", "path": "/spec/list/1", "value": 5}, {"op": "add", "path": "/spec/list/-", "value": 7},
           {"op": "add", "path": "/spec/list/0", "value": 0}, {"op": "remove", "path": "/spec/a~1b/c"},
           {"op": "add", "path": "/spec/new", "value": {"x": 1}},
           {"op": "test", "path": "/metadata/name", "value": "a"}]
    assert apply_json_patch(DOC, ops, "t") == {"kind": "Deployment", "metadata": {"name": "a"},
                                               "spec": {"list": [0, 1, 5, 7], "a/b": {}, "new": {"x": 1}}}
    assert DOC["spec"]["list"] == [1, 2]  # the input is left alone


@pytest.mark.parametrize("op, message", [
    ({"op": "replace", "path": "/spec/missing", "value": 1}, "no field 'missing'"),
    ({"op": "replace", "path": "/spec/list/9", "value": 1}, "not an index"),
    ({"op": "test", "path": "/metadata/name", "value": "b"}, "test failed"),
    ({"op": "move", "path": "/spec/list", "from": "/spec/x"}, "kubectl"),
])
def test_a_bad_patch_names_the_operation(op, message):
    with pytest.raises(SchemaError, match=message):
        apply_json_patch(DOC, [op], "t")


def write(directory, kustomization: str, **files: str):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kustomization.yaml").write_text(kustomization)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: 1}\n"


def test_build_applies_patches_to_the_named_target_only(tmp_path):
    base = write(tmp_path / "base", "resources: [d.yaml]\n",
                 **{"d.yaml": DEPLOYMENT + "---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {}\n"})
    overlay = write(tmp_path / "overlay", "resources: [../base]\npatches:\n  - target: {kind: Deployment, name: a}\n"
                    "    path: p.yaml\n", **{"p.yaml": "- {op: replace, path: /spec/replicas, value: 3}\n"})
    objects = build(overlay)
    assert [o["kind"] for o in objects] == ["Deployment", "Service"]
    assert objects[0]["spec"] == {"replicas": 3} and objects[1]["spec"] == {}
    assert build(base)[0]["spec"] == {"replicas": 1}


@pytest.mark.parametrize("kustomization, message", [
    ("resources: [d.yaml]\nnamePrefix: x-\n", "namePrefix"),
    ("resources: [d.yaml]\npatches:\n  - path: p.yaml\n", "target"),
    ("resources: [d.yaml]\npatches:\n  - target: {kind: Deployment, name: a}\n    patch: 'spec: {replicas: 2}'\n",
     "JSON 6902"),
    ("resources: [d.yaml]\npatches:\n  - target: {kind: Deployment, name: b}\n    patch: '[]'\n", "matches no object"),
    ("resources: [missing.yaml]\n", "not found"),
])
def test_what_the_reader_cannot_render_is_refused(tmp_path, kustomization, message):
    overlay = write(tmp_path / "k", kustomization, **{"d.yaml": DEPLOYMENT})
    with pytest.raises(SchemaError, match=message):
        build(overlay)
