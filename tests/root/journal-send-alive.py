#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Sends one entry (FIELD=value lines on stdin) to journald's native socket and
# stays alive until journalctl finds it by MATCH, so journald has read this
# process's /proc entries (_COMM, _EXE) when it stored it. Usage:
#   journal-send-alive.py MATCH < fields
import socket
import subprocess
import sys
import time

match = sys.argv[1]
entry = sys.stdin.read().encode()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect("/run/systemd/journal/socket")
s.send(entry)
for _ in range(200):
    out = subprocess.run(["journalctl", "-q", "-o", "cat", match], capture_output=True).stdout
    if out.strip():
        sys.exit(0)
    time.sleep(0.05)
sys.exit("journal-send-alive: the entry never reached the journal")
