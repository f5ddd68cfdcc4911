"""Stage 4, faster variants: ONNX, INT8, OpenVINO (fp32, INT8, bf16) exports of a run, each a candidate folder.

  variants.py     export_variants: the orchestration, the variant folders, variant.json, tolerances
  builders.py     each format's model file: ONNX export, ONNX Runtime quantisation, OpenVINO conversion, NNCF
  calibration.py  the training images that calibrate INT8
  portability.py  the same answers on every CPU: bf16 only where the CPU has it, the int8 weight range
  errors.py       ExportError
"""
