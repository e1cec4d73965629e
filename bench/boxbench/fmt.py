# SPDX-License-Identifier: LGPL-2.1-or-later
"""Figures for people: times, sizes, counts, ratios and verdicts."""


def us(v):
    """Microseconds, in the unit that keeps three or four digits."""
    v = float(v)
    sign = '-' if v < 0 else ''
    v = abs(v)
    if v >= 1e6:
        s = f'{v / 1e6:.2f} s'
    elif v >= 1e5:
        s = f'{v / 1e3:.0f} ms'
    elif v >= 1e3:
        s = f'{v / 1e3:.2f} ms'
    elif v >= 10:
        s = f'{v:.1f} µs'
    elif v >= 1:
        s = f'{v:.2f} µs'
    else:
        s = f'{v * 1e3:.0f} ns'
    return sign + s


def kib(v):
    """KiB as MiB."""
    return f'{float(v) / 1024:.1f} MiB'


def num(v):
    """An integer with thousands separators: 10,000."""
    return f'{round(float(v)):,}'


def f(v, decimals=2):
    """A number with a fixed number of decimals (the ratios and per-item figures)."""
    return f'{float(v):.{decimals}f}'


def met(cond):
    """The verdict column of the target tables."""
    return '**met**' if cond else '**not met**'
