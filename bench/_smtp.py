"""The benches' mail server: aiosmtpd in its own process (its CPU apart from the bench's), counting what arrives.

    server = Server()             # listening on server.port
    received, cpu_s = server.counters()
    server.stop()

Imported by the bench scripts as `_smtp` (their own folder is on sys.path when run as `python bench/NAME.py`).
"""

from __future__ import annotations

import socket
import subprocess
import sys

SERVER = """
import sys, time
from aiosmtpd.controller import Controller
class Counter:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Counter.count += 1
        return "250 OK"
controller = Controller(Counter(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
for line in sys.stdin:  # each line: how many arrived and the CPU time so far; "stop" ends
    if line.strip() == "stop":
        break
    print(Counter.count, time.process_time(), flush=True)
controller.stop()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, str(self.port)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def counters(self) -> tuple[int, float]:
        """(messages received, server CPU seconds) so far."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        received, cpu = self.proc.stdout.readline().split()
        return int(received), float(cpu)

    def stop(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.proc.kill()
