"""The scoring engine as plain Python: never imports Django; torch only in training modules
(model.py, train.py, export.py, export_embedder.py)."""
