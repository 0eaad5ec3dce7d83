"""Exporting networks to deployable formats (ONNX; TFLite where the converter is installed)."""
