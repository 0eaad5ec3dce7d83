"""nas: latency-aware neural architecture search for real-time semantic segmentation."""

__version__ = "0.1.0"
