"""Pure statistics for experiments: no Django, numbers in, dataclasses out."""
