"""Guidance core: plain Python (numpy, onnxruntime), importable without Django."""
