# SPDX-License-Identifier: LGPL-2.1-or-later
"""Processes, progress lines and the machine's load."""

import os
import subprocess
import sys
import time

T0 = time.monotonic()


class BenchError(Exception):
    """A step failed or a check did not hold: the run stops, no report is written."""


def elapsed():
    """Seconds since the driver started."""
    return time.monotonic() - T0


def say(msg):
    print(f'[{elapsed():4.0f}s] {msg}', file=sys.stderr, flush=True)


def die(msg):
    raise BenchError(msg)


def run(argv, what=None, stdout=subprocess.DEVNULL, stderr=None, **kw):
    """Runs argv (no shell); a non-zero exit stops the benchmark, naming what failed."""
    r = subprocess.run([str(a) for a in argv], stdout=stdout, stderr=stderr, **kw)
    if r.returncode != 0:
        die(f'{what or argv[0]} failed (exit status {r.returncode})')
    return r


def output(argv, what=None, stderr=None):
    """The standard output of argv, as text."""
    return run(argv, what, stdout=subprocess.PIPE, stderr=stderr, text=True).stdout


def first_line(argv):
    """The first line a version query prints, or '?' if the program cannot say."""
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return '?'
    return r.stdout.splitlines()[0] if r.returncode == 0 and r.stdout else '?'


def kv(text):
    """The key=value pairs of bench-exec's and the scripts' summary lines; numbers as floats."""
    d = {}
    for tok in text.split():
        k, sep, v = tok.partition('=')
        if not sep:
            continue
        try:
            d.setdefault(k, float(v))
        except ValueError:
            d.setdefault(k, v)
    return d


def read_lines(path):
    with open(path) as f:
        return [line.rstrip('\n') for line in f if line.strip()]


def loadavg():
    """The three load averages, as /proc/loadavg writes them."""
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def cpu_busy():
    """The whole machine's busy share over one second, in percent (idle and iowait count as idle)."""
    def sample():
        with open('/proc/stat') as f:
            return [int(x) for x in f.readline().split()[1:]]
    a = sample()
    time.sleep(1)
    b = sample()
    d = [y - x for x, y in zip(a, b)]
    total = sum(d)
    return f'{100 * (total - d[3] - d[4]) / total:.0f}' if total > 0 else '0'


def remove_tree(path):
    """rm -rf: a home of 100,000 files goes in a fraction of the time shutil.rmtree takes."""
    subprocess.run(['rm', '-rf', '--', str(path)])


def count_files(directory, suffix):
    """Files directly in directory whose name ends with suffix."""
    with os.scandir(directory) as it:
        return sum(1 for e in it if e.name.endswith(suffix))
