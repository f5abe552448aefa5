"""What the benchmark scripts share: the repository's root, the app they run and a raw HTTP GET.

Python 3 standard library only; the scripts beside it import it (their folder is on sys.path).
"""

import os
import socket

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# The app of local.py's generated services and of protocol.py (see its docstring).
BENCH_APP = os.path.join(HERE, "bench_app.py")


def get(port, path, timeout):
    """The raw response (head and body) to one GET on a fresh connection to 127.0.0.1:port, read
    until the server closes it. Raises OSError when the connection fails."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
