#!/usr/bin/env python3
"""A DNS server on 127.0.0.1:53 that knows one name (A record), for tests/dist/static.sh: it
stands in for docker-compose's embedded resolver. Usage: one_name_dns.py NAME IPV4"""
import socket
import struct
import sys

name, ip = sys.argv[1].lower(), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
while True:
    data, addr = s.recvfrom(512)
    tid = struct.unpack(">H", data[:2])[0]
    i, labels = 12, []
    while data[i]:
        n = data[i]
        labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    question = data[12:i + 5]
    qtype = struct.unpack(">H", data[i + 1:i + 3])[0]
    answers = b""
    count = 0
    if ".".join(labels).lower().rstrip(".") == name and qtype == 1:
        answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
        count = 1
    # NOERROR, recursion available; an empty answer for other names/types (AAAA).
    s.sendto(struct.pack(">HHHHHH", tid, 0x8180, 1, count, 0, 0) + question + answers, addr)
