"""Range checks of numeric options, shared by the run configuration (``ssrl.config``) and the
evaluation options (``ssrl.evaluation.options``): a value outside its range is an ``SsrlError``
naming the option by its command-line flag and saying the range, before anything runs. None
means "not given" and always passes."""

import math
import numbers

from ssrl.errors import SsrlError


def check_count(value, flag: str, low: int = 1) -> None:
    """A whole number of at least ``low`` (NumPy integers too; True and False are not counts)."""
    if value is not None and (not _is_int(value) or value < low):
        raise SsrlError(f"{flag} {value}: must be a whole number of at least {low}")


def check_number(value, flag: str, low: float = 0.0, *, strictly: bool) -> None:
    """A finite number above ``low`` (``strictly``) or at least ``low``."""
    if value is not None and not (_is_number(value) and math.isfinite(value)
                                  and (value > low if strictly else value >= low)):
        raise SsrlError(f"{flag} {value}: must be a finite number {'>' if strictly else '≥'} {low:g}")


def check_fraction(value, flag: str) -> None:
    """A fraction in (0, 1]: of the labels, say."""
    if value is not None and not (_is_number(value) and 0 < value <= 1):
        raise SsrlError(f"{flag} {value}: must be a fraction in (0, 1]")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
