# SPDX-License-Identifier: LGPL-2.1-or-later
"""Section 3: the built-in qcow2 reader against libqcow (bench/reader-bench and boxlite-chainwalk --reader)."""

from . import chainwalk, fmt
from .util import kv, output, say


def run(bench, m):
    # boxlite-chainwalk --reader builtin/libqcow were timed with section 1, in the same rounds.
    say('3. readers: libqcow against the built-in reader')
    bench.val['reader'] = kv(output([bench.reader, '--rounds', '11', chainwalk.layers_file(m)],
                                    what='reader-bench'))


def text(bench, m):
    rd, v, r, us = bench.val['reader'], bench.val, bench.r, fmt.us
    b = v['cw_home_builtin_per']
    return f'''## 3. What the reader costs

`bench/reader-bench` links the project's library and, on the same
{rd['layers']:.0f} qcow2 layers (the {bench.sample_size} sample overlays and every base),
opened once, times each reader per layer (median of 11 rounds, readers
alternating; both readers are first checked to agree on every layer):

| per layer | median |
|---|---|
| I/O any reader needs: `open`, `fstat`, `pread` 4 KiB, `close` | {us(rd['open_ns'] / 1000)} |
| built-in strict reader, `qcow_header_read()` on an open file | {us(rd['builtin_ns'] / 1000)} |
| libqcow, `qcow_libqcow_read()` on an open file (libqcow opens, reads its tables, closes) | {us(rd['libqcow_ns'] / 1000)} |
| **libqcow / built-in** | **{fmt.f(rd['libqcow_ns'] / rd['builtin_ns'], 1)}x** |
| `chain_walk()` of an overlay, `--reader builtin` | {us(rd['walk_builtin_ns'] / 1000)} |
| `chain_walk()` of an overlay, `--reader libqcow` | {us(rd['walk_libqcow_ns'] / 1000)} |
| `chain_walk()` of an overlay, `--reader auto` (the default: built-in validates, libqcow reads) | {us(rd['walk_auto_ns'] / 1000)} |

End to end, `boxlite-chainwalk --json --home` on the {fmt.num(m.overlays)} overlays (interleaved rounds):

| `--reader` | median wall | per overlay | ratio to builtin |
|---|---|---|---|
| `builtin` | {us(r('cw_home_builtin'))} | {us(b)} | 1 |
| `libqcow` | {us(r('cw_home_libqcow'))} | {us(v['cw_home_libqcow_per'])} | {fmt.f(v['cw_home_libqcow_per'] / b)} |
| `auto` (default) | {us(r('cw_home'))} | {us(v['cw_home_per'])} | {fmt.f(v['cw_home_per'] / b)} |

The GC uses the built-in reader only (`chain_walk()` with
`QCOW_READER_BUILTIN`); `boxlite-chainwalk` defaults to `auto`, so that
what it prints comes from libqcow wherever libqcow can read the image.
'''
