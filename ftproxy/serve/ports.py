"""A busy port is an error, not a share (issue 13, item 5).

Granian listens with SO_REUSEPORT, so a second `ftproxy serve` on the same port would start,
print "listening" and take half the connections, a stale instance with an old config answering
every other request. Before serving, the launcher binds the address once itself, without
SO_REUSEPORT: if that fails, it names the port and the process holding it and refuses to start.
`--reuse-port` skips the check for operators who share a port on purpose.
"""

from __future__ import annotations

import contextlib
import errno
import socket


class PortBusy(RuntimeError):
    pass


def check_free(host: str, port: int) -> None:
    """Raises `PortBusy` when something already listens on host:port (or cannot be bound)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR: connections of a previous run in TIME_WAIT do not count as busy (Linux
        # still refuses the bind while anything *listens* there).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortBusy(
                    f"port {port} on {host} is already in use by {holder(port)}. Stop that process, "
                    f"choose another --port, or pass --reuse-port to share the port on purpose (both "
                    "processes then answer, each with its own configuration)"
                ) from None
            raise PortBusy(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        except socket.gaierror as exc:
            raise PortBusy(f"cannot listen on {host}:{port}: {exc}") from None


def holder(port: int) -> str:
    """Who listens on `port`: 'pid 123 (ftproxy serve --demo ...)', or what can be said."""
    try:
        import psutil

        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid is None:
                    break
                with contextlib.suppress(psutil.Error):
                    process = psutil.Process(conn.pid)
                    # Granian's workers listen themselves: name the server process the operator
                    # started, the oldest ancestor running the same command line.
                    parent = process.parent()
                    while parent is not None and parent.cmdline() == process.cmdline():
                        process, parent = parent, parent.parent()
                    command = " ".join(process.cmdline())[:200] or process.name()
                    return f"pid {process.pid} ({command})"
                return f"pid {conn.pid}"
    except Exception:  # psutil missing or not permitted: still refuse, with the hint below
        pass
    return f"another process (not visible to this user; `ss -ltnp 'sport = :{port}'` shows which)"


__all__ = ["PortBusy", "check_free", "holder"]
