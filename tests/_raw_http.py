"""HTTP/1.1 over a plain socket, for tests that must control exactly when a request's bytes go out (a
body sent in part, or never finished) and see whether the server answers or keeps the connection."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


class RawConnection:
    """One TCP connection to the server at `url` (http://host:port)."""

    def __init__(self, url: str, timeout: float = 30.0):
        parts = urlsplit(url)
        self.host = f"{parts.hostname}:{parts.port}"
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.buffer = b""

    def send_head(self, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send_chunk(self, data: bytes) -> None:
        """One chunk of a chunked body (b"" ends the body)."""
        self.sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def read_response(self) -> tuple[int, dict[str, str], bytes]:
        """(status, headers in lower case, body) of the next response; its body by Content-Length."""
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def is_closed_by_server(self, wait: float = 2.0) -> bool:
        """True when the server closed the connection (a read returns nothing) within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except (TimeoutError, socket.timeout):
            return False
        except ConnectionResetError:
            return True

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
