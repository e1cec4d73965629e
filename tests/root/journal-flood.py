#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Sends COUNT entries straight to journald's native socket, as the calling
# user, each with the admission decision MESSAGE_ID and no verdict (a flood
# of junk that only an unbounded reader would wade through). Usage:
#   journal-flood.py COUNT MESSAGE_ID
import socket
import sys

count, message_id = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect("/run/systemd/journal/socket")
entry = ("MESSAGE_ID=%s\nMESSAGE=junk\nSYSLOG_IDENTIFIER=boxlite-admit\n" % message_id).encode()
for _ in range(count):
    s.send(entry)
