#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A FUSE file system that never answers: every lookup, getattr and statfs
# blocks for ever, as a dead network or FUSE backend does. Usage:
#   hung-fs.py MOUNTPOINT -f
# Stop it with SIGKILL, then umount -l MOUNTPOINT.
import time

import fuse

fuse.fuse_python_api = (0, 2)


class Hung(fuse.Fuse):
    def getattr(self, path):
        while True:
            time.sleep(3600)

    def statfs(self):
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    server = Hung(dash_s_do="setsingle")
    server.parse(errex=1)
    server.main()
