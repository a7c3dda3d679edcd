"""Trained run -> deployment bundle: int8 TFLite, C arrays, ONNX edge decoder, signed manifest."""
