"""Benchmarks: speed and accuracy against reference implementations (econml, CVXPY)."""
