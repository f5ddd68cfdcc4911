"""The networks: backbones by name (a registry), FoodNet (backbone + head), and predictors that
run a saved model with any runtime (eager PyTorch, ONNX Runtime, OpenVINO)."""
