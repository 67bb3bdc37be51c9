"""``python -m simulations``: see :mod:`simulations.cli`."""

from simulations.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
