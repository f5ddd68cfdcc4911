"""foodclf.export.portability: every variant answers the same on both kinds of CPU this project's
machines come with (an AVX2-only AMD EPYC; an Intel Xeon with AVX-512, VNNI and AMX). The other
kind is posed as by changing the CPU flags foodclf.machine reads; the answers are computed here."""
from __future__ import annotations

import logging
import shutil

import pytest
import torch
from export_support import (
    AVX2_ONLY,
    CALIBRATION_IMAGES,
    NO_BF16,
    XEON_AMX,
    copy_run,
    eager_probabilities,
    pose_as,
    predictor_warnings,
)

from foodclf.contracts.variant import Int8Range, read_variant
from foodclf.errors import RunDirError
from foodclf.export.portability import AUTO_REASON, FULL_REASON
from foodclf.export.variants import TOLERANCES, ExportError, available_formats, export_variants, variant_dir
from foodclf.models.predictors import MODEL_FILES, OpenVinoPredictor, load_predictor, model_files

XEON = "Intel(R) Xeon(R) Platinum (posed)"
EPYC = "AMD EPYC (posed)"


def within_tolerance(folder, trained_run, images, fmt) -> tuple[float, float]:
    """(largest probability difference, top-1 agreement) of a variant against eager, here."""
    variant = torch.softmax(load_predictor(folder, threads=1)(images), dim=1)
    eager = eager_probabilities(trained_run, images)
    difference = (variant - eager).abs().max().item()
    agreement = (variant.argmax(1) == eager.argmax(1)).float().mean().item()
    max_difference, min_agreement = TOLERANCES[fmt]
    assert difference <= max_difference and agreement >= min_agreement, (difference, agreement)
    return difference, agreement


# ---- bf16: only on a CPU that has it ------------------------------------------------------------

def test_bf16_is_offered_only_on_a_cpu_with_bf16_instructions(monkeypatch):
    pose_as(monkeypatch, XEON_AMX, XEON)
    assert "openvino-bf16" in available_formats()
    pose_as(monkeypatch, AVX2_ONLY, EPYC)
    assert "openvino-bf16" not in available_formats()
    assert {"onnx", "int8", "openvino", "openvino-int8"} <= set(available_formats())


def test_a_bf16_export_is_refused_on_a_cpu_without_bf16_and_the_others_are_built(trained_run, sample_data,
                                                                                tmp_path, monkeypatch):
    run_dir = copy_run(trained_run, tmp_path / "food")
    pose_as(monkeypatch, AVX2_ONLY, EPYC)
    with pytest.raises(ExportError, match=r"1 of 2 variant\(s\).*food-openvino-bf16: format 'openvino-bf16' needs "
                                          r"bf16 instructions \(avx512_bf16 or amx_bf16\), which this CPU lacks "
                                          r"\(CPU: AMD EPYC \(posed\); ISA: avx2;") as caught:
        export_variants(run_dir, ["openvino", "openvino-bf16"], sample_data, evaluate=False)
    assert caught.value.built == [variant_dir(run_dir, "openvino")]
    assert not variant_dir(run_dir, "openvino-bf16").exists()


def test_a_bf16_variant_is_refused_when_loaded_on_a_cpu_without_bf16(exported, tmp_path, monkeypatch):
    """The bf16 variant is the fp32 IR under its own name: made here by copying the openvino one."""
    folder = tmp_path / "food-openvino-bf16"
    shutil.copytree(exported[1]["openvino"], folder)
    for source, target in zip(model_files(folder / MODEL_FILES["openvino"]),
                              model_files(folder / MODEL_FILES["openvino-bf16"]), strict=True):
        source.rename(target)
    pose_as(monkeypatch, AVX2_ONLY, EPYC)
    with pytest.raises(RunDirError, match=r"model\.bf16\.xml: the openvino-bf16 variant needs bf16 instructions "
                                          r"\(avx512_bf16 or amx_bf16\), which this CPU lacks \(CPU: AMD EPYC "
                                          r"\(posed\); ISA: avx2;.*silently run it in f32"):
        load_predictor(folder, threads=1)


@pytest.mark.parametrize("fmt, hint", [("openvino", "f32"), ("openvino-int8", "f32"), ("openvino-bf16", "bf16")])
def test_openvino_compiles_each_variant_at_its_precision_whatever_the_cpu_prefers(exported, fmt, hint):
    """OpenVINO's default on a CPU with bf16 is bf16: fp32 and INT8 variants must ask for f32."""
    if fmt not in exported[1]:
        pytest.skip(NO_BF16)
    import openvino as ov

    predictor = load_predictor(exported[1][fmt], threads=1)
    assert isinstance(predictor, OpenVinoPredictor)
    assert predictor.config["INFERENCE_PRECISION_HINT"] == hint
    assert predictor.compiled.get_property("INFERENCE_PRECISION_HINT") == getattr(ov.Type, hint)


# ---- INT8 with ONNX Runtime: an archive made on one kind of CPU, served on the other ------------

def test_auto_int8_made_on_a_vnni_cpu_answers_within_tolerance_here(trained_run, sample_data, evaluation_batch,
                                                                    tmp_path, monkeypatch, caplog):
    """What a VNNI/AMX Xeon exports with int8_range=auto, served on this CPU (AVX2-only or not)."""
    run_dir = copy_run(trained_run, tmp_path / "food")
    with monkeypatch.context() as xeon:
        pose_as(xeon, XEON_AMX, XEON)
        [folder] = export_variants(run_dir, ["int8"], sample_data, calibration_images=CALIBRATION_IMAGES,
                                   evaluate=False)
    record = read_variant(folder)
    assert record.exported_on.cpu == XEON and "amx_int8" in record.exported_on.isa
    assert record.int8_range == Int8Range(asked="auto", choice="reduced", reason=AUTO_REASON)
    caplog.set_level(logging.WARNING, logger="foodclf.models.predictors")
    within_tolerance(folder, trained_run, evaluation_batch[0], "int8")
    assert predictor_warnings(caplog) == []


def test_auto_int8_is_the_same_model_whichever_cpu_exports_it(trained_run, sample_data, tmp_path, monkeypatch):
    """auto does not depend on the exporting CPU: an AVX2 and a VNNI machine write the same weights."""
    made = {}
    for kind, flags in (("epyc", AVX2_ONLY), ("xeon", XEON_AMX)):
        run_dir = copy_run(trained_run, tmp_path / kind / "food")
        with monkeypatch.context() as cpu:
            pose_as(cpu, flags, kind)
            [folder] = export_variants(run_dir, ["int8"], sample_data, calibration_images=8, evaluate=False)
        made[kind] = folder
    import onnx

    weights = {kind: {t.name: onnx.numpy_helper.to_array(t).tobytes()
                      for t in onnx.load(str(folder / MODEL_FILES["int8"])).graph.initializer}
               for kind, folder in made.items()}
    assert weights["epyc"] and weights["epyc"] == weights["xeon"]


def test_a_full_range_int8_variant_warns_where_it_saturates(trained_run, sample_data, tmp_path, monkeypatch,
                                                            caplog):
    """Full-range weights (exported on a VNNI CPU) loaded on a CPU without VNNI: a warning that names
    the variant and the fix; none on a CPU with VNNI."""
    run_dir = copy_run(trained_run, tmp_path / "food")
    caplog.set_level(logging.WARNING, logger="foodclf.models.predictors")
    pose_as(monkeypatch, XEON_AMX, XEON)
    [folder] = export_variants(run_dir, ["int8"], sample_data, calibration_images=8, evaluate=False,
                               int8_range="full")
    assert read_variant(folder).int8_range == Int8Range(asked="full", choice="full", reason=FULL_REASON)
    assert predictor_warnings(caplog) == []  # exported and checked on a VNNI CPU: nothing to warn about
    assert load_predictor(folder, threads=1).int8_range == "full"
    assert predictor_warnings(caplog) == []
    pose_as(monkeypatch, AVX2_ONLY, EPYC)
    load_predictor(folder, threads=1)
    [message] = predictor_warnings(caplog)
    assert "food-int8 (int8 variant, model.int8.onnx): full-range INT8 weights on a CPU without VNNI" in message
    assert 'int8_range="reduced"' in message and "--int8-range reduced" in message
