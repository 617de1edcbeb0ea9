"""A message channel between the runtime and the processes it forks.

A ``socketpair(AF_UNIX, SOCK_SEQPACKET)`` (unix(7)) keeps message boundaries, can carry
file descriptors (SCM_RIGHTS: the container hands its pseudo-terminal to the runtime this
way), and tells the reader when every writer is gone: the container's end is
close-on-exec, so the runtime reads end-of-file at the exact moment ``execve`` succeeds.
"""

from __future__ import annotations

import json
import socket

MAX_MESSAGE = 65536


class Channel:
    def __init__(self, sock: socket.socket):
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple["Channel", "Channel"]:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # both close-on-exec
        return cls(a), cls(b)

    def send(self, msg: dict, fds: list[int] | tuple[int, ...] = ()) -> None:
        data = json.dumps(msg).encode()
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.send(data)

    def recv(self) -> tuple[dict | None, list[int]]:
        """The next message and any file descriptors it carried; ``(None, [])`` at end-of-file."""
        data, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_MESSAGE, 4)
        if not data:
            return None, list(fds)
        return json.loads(data), list(fds)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()
