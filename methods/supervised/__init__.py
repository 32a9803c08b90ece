"""Supervised flow matching on paired data (the paper's SFT baseline)."""

from methods.supervised.method import Supervised

__all__ = ["Supervised"]
