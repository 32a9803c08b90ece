"""Training harness for instruction-based image-editing methods (NP-Edit, Flow-GRPO, supervised)."""

__version__ = "0.1.0"
