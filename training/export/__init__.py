"""Export: a training run directory to a verified ONNX bundle (fp32 and int8)."""
