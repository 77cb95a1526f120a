"""Simulation: physics (numba kernels over numpy arrays), acoustics, the world loop.

Knows nothing of the network or of Qt (import-linter contracts in pyproject.toml).
"""
