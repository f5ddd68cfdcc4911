"""Stage 4, faster variants: ONNX, INT8 and OpenVINO exports of a run, each a candidate folder."""
