"""NP-Edit: config (config.py), losses (losses.py), the method and its step (method.py)."""

from methods.npedit.method import NPEdit

__all__ = ["NPEdit"]
