#!/usr/bin/env python3
"""A minimal SMTP server on 127.0.0.1 for tests (standard library only).

usage: smtp_sink.py DIR PORTFILE [REJECT,...]

Listens on a free loopback port and writes the port number to PORTFILE.
Each message it accepts becomes DIR/N.eml (the data as received, dot
stuffing undone) and DIR/N.json ({"mail_from": ..., "rcpt_to": [...]}).
A RCPT TO for an address in REJECT gets "550 no such user".  One client
at a time; stops by itself after 300 seconds or 1000 connections, and on
SIGTERM.  Nothing leaves the machine.
"""
import json
import os
import re
import socket
import sys
import time

outdir, portfile = sys.argv[1:3]
reject = set(sys.argv[3].split(",")) if len(sys.argv) > 3 else set()
deadline = time.monotonic() + 300
count = 0


def addr(arg):
    m = re.search(r"<([^>]*)>", arg)
    return m.group(1) if m else arg.split(":", 1)[-1].strip()


def serve(conn):
    global count
    f = conn.makefile("rb")

    def say(line):
        conn.sendall(line.encode() + b"\r\n")

    say("220 sink ESMTP")
    mail_from, rcpts = None, []
    while True:
        line = f.readline()
        if not line:
            return
        cmd = line.decode("utf-8", "replace").rstrip("\r\n")
        verb = cmd.split(" ", 1)[0].upper()
        if verb == "EHLO":
            conn.sendall(b"250-sink\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n")
        elif verb == "HELO":
            say("250 sink")
        elif verb == "MAIL":
            mail_from, rcpts = addr(cmd), []
            say("250 ok")
        elif verb == "RCPT":
            to = addr(cmd)
            if to in reject:
                say("550 no such user")
            else:
                rcpts.append(to)
                say("250 ok")
        elif verb == "DATA":
            if not rcpts:
                say("503 no recipients")
                continue
            say("354 go ahead")
            data = []
            while True:
                l = f.readline()
                if not l or l == b".\r\n":
                    break
                data.append(l[1:] if l.startswith(b".") else l)
            base = os.path.join(outdir, "%d" % count)
            count += 1
            with open(base + ".eml", "wb") as out:
                out.write(b"".join(data))
            with open(base + ".json", "w") as out:
                json.dump({"mail_from": mail_from, "rcpt_to": rcpts}, out)
            say("250 queued")
        elif verb == "RSET":
            mail_from, rcpts = None, []
            say("250 ok")
        elif verb == "NOOP":
            say("250 ok")
        elif verb == "QUIT":
            say("221 bye")
            return
        else:
            say("502 not implemented")


srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(8)
with open(portfile + ".tmp", "w") as p:
    p.write("%d\n" % srv.getsockname()[1])
os.rename(portfile + ".tmp", portfile)
for _ in range(1000):
    left = deadline - time.monotonic()
    if left <= 0:
        break
    srv.settimeout(left)
    try:
        conn, _ = srv.accept()
    except socket.timeout:
        break
    with conn:
        conn.settimeout(30)
        try:
            serve(conn)
        except (OSError, socket.timeout):
            pass
srv.close()
