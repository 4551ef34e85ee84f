"""Serving the console with uvicorn on a socket bound first, so that a console says where it
serves only once it really listens, and a port in use is one clear line instead of the URL
followed by uvicorn's bind error (`greeter console` and ``make console`` alike)."""

import contextlib
import errno
import socket

from greeter.errors import GreeterError


def url_host(host: str) -> str:
    """`host` as an URL spells it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def listening_socket(host: str, port: int, when_busy: str) -> socket.socket:
    """A socket listening on `host`:`port`, or a `GreeterError` saying why there is none;
    `when_busy` tells what to do when another program holds the port."""
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        # as uvicorn binds: a console restarted at once is not kept off its port by the old
        # one's connections lingering in TIME_WAIT; uvicorn's backlog
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(2048)
        return listening
    except OSError as error:
        listening.close()
        if error.errno == errno.EADDRINUSE:
            raise GreeterError(f"{url_host(host)}:{port} is in use by another program: "
                               f"{when_busy}") from None
        raise GreeterError(f"cannot listen on {url_host(host)}:{port}: "
                           f"{error.strerror or error}") from None


def serve(app, listening: socket.socket, log_level: str = "info") -> None:
    """Run `app` on `listening` until Ctrl-C or SIGTERM. No access log: its URLs would put
    guests' ids and searched names into the system log."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, server_header=False,
                            proxy_headers=False)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C, raised again after the shutdown
        uvicorn.Server(config).run(sockets=[listening])
