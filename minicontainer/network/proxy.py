"""The port proxy: one small process per published port, like docker-proxy.

This file is run as a program, not imported by the runtime::

    python -I -S proxy.py tcp|udp FD CONTAINER_IP CONTAINER_PORT --container ID

``FD`` is a socket the runtime has already bound (and, for TCP, is listening on) and
passed down to us (inherited across execve(2) because it is not close-on-exec). We
never bind anything ourselves, so "port in use" can only happen in the runtime, before
any process exists. ``-I -S`` keeps the interpreter small: no site-packages, no
pyroute2, only ``socket`` and ``selectors`` (the epoll(7) loop) from the standard
library. ``--container`` is not used by the code: it is there so that ``prune`` can
recognise our processes in /proc/PID/cmdline before it kills one.

TCP: for every accepted connection we open one to the container and copy bytes both
ways; when one side shuts down its writing half we shut down ours (shutdown(2)), so
request/response protocols such as HTTP/1.0 work. UDP has no connections, so each
client address gets its own socket connected to the container (the reply comes back
on it and is sent to that client); idle ones are closed after a while.
"""

import os
import selectors
import signal
import socket
import sys
import time

BUFSIZE = 65536
UDP_IDLE = 60.0


class _Pipe:
    """One direction of a TCP relay: bytes read from ``src`` waiting to go to ``dst``."""

    def __init__(self, src, dst):
        self.src, self.dst = src, dst
        self.buf = b""
        self.eof = False


def _relay_tcp(listener):
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    pipes = {}      # socket -> (pipe reading from it, pipe writing to it)

    def close_pair(sock):
        entry = pipes.get(sock)
        if entry is None:
            return
        for s in (entry[0].src, entry[0].dst):
            pipes.pop(s, None)
            if s in sel.get_map():
                sel.unregister(s)
            s.close()

    def update(sock):
        """Ask epoll for exactly what this socket needs now (nothing: unregister it)."""
        reading, writing = pipes[sock]
        events = 0
        if not reading.eof and len(reading.buf) < BUFSIZE:
            events |= selectors.EVENT_READ
        if writing.buf:
            events |= selectors.EVENT_WRITE
        if sock in sel.get_map():
            if events:
                sel.modify(sock, events, "conn")
            else:
                sel.unregister(sock)
        elif events:
            sel.register(sock, events, "conn")

    while True:
        for key, events in sel.select():
            sock = key.fileobj
            if key.data is None:                     # the listener: a new client
                try:
                    client, _ = listener.accept()
                except OSError:
                    continue
                try:
                    upstream = socket.create_connection((TARGET_IP, TARGET_PORT), timeout=5)
                except OSError:
                    client.close()                   # the container does not answer: drop the client
                    continue
                client.setblocking(False)
                upstream.setblocking(False)
                up, down = _Pipe(client, upstream), _Pipe(upstream, client)
                pipes[client] = (up, down)
                pipes[upstream] = (down, up)
                update(client)
                update(upstream)
                continue
            if sock not in pipes:
                continue
            reading, writing = pipes[sock]
            other = reading.dst
            try:
                if events & selectors.EVENT_READ and not reading.eof:
                    data = sock.recv(BUFSIZE)
                    if data:
                        reading.buf += data
                    else:
                        reading.eof = True
                if events & selectors.EVENT_WRITE and writing.buf:
                    writing.buf = writing.buf[sock.send(writing.buf):]
                if reading.buf:                      # pass on what the other side takes now
                    try:
                        reading.buf = reading.buf[other.send(reading.buf):]
                    except BlockingIOError:
                        pass
                if reading.eof is True and not reading.buf:
                    other.shutdown(socket.SHUT_WR)   # forward the end of this direction
                    reading.eof = "done"
                if writing.eof == "done" and not writing.buf and reading.eof == "done":
                    close_pair(sock)                 # both directions finished
                    continue
            except OSError:
                close_pair(sock)
                continue
            update(sock)
            update(other)


def _relay_udp(listener):
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    clients = {}    # client address -> [upstream socket, last used]
    while True:
        for key, _ in sel.select(timeout=UDP_IDLE / 4):
            if key.data is None:
                try:
                    data, addr = listener.recvfrom(BUFSIZE)
                except OSError:
                    continue
                entry = clients.get(addr)
                if entry is None:
                    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    upstream.connect((TARGET_IP, TARGET_PORT))
                    upstream.setblocking(False)
                    entry = clients[addr] = [upstream, 0.0]
                    sel.register(upstream, selectors.EVENT_READ, addr)
                entry[1] = time.monotonic()
                try:
                    entry[0].send(data)
                except OSError:
                    pass
            else:
                addr = key.data
                try:
                    data = key.fileobj.recv(BUFSIZE)
                    listener.sendto(data, addr)
                    clients[addr][1] = time.monotonic()
                except OSError:
                    pass
        now = time.monotonic()
        for addr, (upstream, last) in list(clients.items()):
            if now - last > UDP_IDLE:
                sel.unregister(upstream)
                upstream.close()
                del clients[addr]


def main(argv):
    global TARGET_IP, TARGET_PORT
    if len(argv) < 4 or argv[0] not in ("tcp", "udp"):
        sys.stderr.write("usage: proxy.py tcp|udp FD CONTAINER_IP CONTAINER_PORT [--container ID]\n")
        return 2
    proto, fd, TARGET_IP, TARGET_PORT = argv[0], int(argv[1]), argv[2], int(argv[3])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # a ^C in the runtime's terminal is not for us
    listener = socket.socket(fileno=fd)
    os.set_inheritable(fd, False)
    if proto == "tcp":
        _relay_tcp(listener)
    else:
        _relay_udp(listener)
    return 0


TARGET_IP, TARGET_PORT = "", 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
