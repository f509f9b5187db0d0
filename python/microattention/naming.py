"""Sorting names as people read them: 's2' before 's10'. Every stage sorts
subjects, clips and folds by it."""
import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(text):
    """Sort 's2' before 's10' and 'img9' before 'img10'."""
    return [int(part) if part.isdigit() else part
            for part in _DIGITS.split(str(text))]
