"""Errors a user of ``python -m simulations`` can cause and fix.

The command prints any :class:`UserInputError` as one line (``error: <message>``)
and exits with code 2; its message names the file or directory at fault and what
to do. They are ValueErrors, so library callers can catch them as such.
"""

from __future__ import annotations

__all__ = ["DataError", "StoreError", "UserInputError"]


class UserInputError(ValueError):
    """An input the user chose (arguments, data files, the output directory) is unusable.

    Examples
    --------
    >>> issubclass(DataError, UserInputError) and issubclass(UserInputError, ValueError)
    True
    """


class DataError(UserInputError):
    """A ``--data`` directory or one of its files cannot be used (missing, unreadable,
    wrong columns), or a study cannot use ``--data`` at all.

    Examples
    --------
    >>> str(DataError("data/mbpp_train.csv: no column 'prompt'"))
    "data/mbpp_train.csv: no column 'prompt'"
    """


class StoreError(UserInputError):
    """The results store (``results.sqlite``) cannot be used: corrupted, of another
    format, or written by a different version of the study.

    Examples
    --------
    >>> isinstance(StoreError("x"), ValueError)
    True
    """
