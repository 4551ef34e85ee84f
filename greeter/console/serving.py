"""Serving the console with uvicorn on a socket bound first, so that a console says where it
serves only once it really listens, and a port in use is one clear line instead of the URL
followed by uvicorn's bind error (`greeter console` and ``make console`` alike).

The console listens on the event's network, where anybody can connect, so every connection
costs bounded memory and time before it has said what it wants (`guarded_protocol`):

* a request's line and headers must arrive within `HEADER_SECONDS` of the connection opening
  (or of its previous response) and fit in `HEADER_BYTES`; a slow or silent client is closed;
* an idle keep-alive connection is closed after `KEEP_ALIVE_SECONDS`;
* at most `MAX_CONNECTIONS` connections are open at once: more are closed as they arrive, and
  the process may open enough files for them (`raise_open_file_limit`);
* bodies are limited in size and time where they are read (`greeter.console.uploads`), and
  only the sign-in form is read before signing in.
"""

import contextlib
import errno
import logging
import resource
import socket

from greeter.errors import GreeterError
from greeter.heap import keep_heap_small

log = logging.getLogger(__name__)

#: Seconds for a request's line and headers: a browser sends them in one packet, a phone on a
#: poor Wi-Fi within a second or two; a client holding a connection open by sending a header
#: byte now and then (slowloris) is closed after this.
HEADER_SECONDS = 10.0
#: Largest request line and headers, in bytes (h11's own default, named here).
HEADER_BYTES = 16 * 1024
#: Seconds an idle connection is kept between requests (uvicorn's default).
KEEP_ALIVE_SECONDS = 5
#: Connections open at once. Each costs a file descriptor and ~20 KB while idle; 1,100 idle
#: connections under the default limit of 1,024 open files made staff requests fail with "Too
#: many open files". 1,000 costs ~20 MB at worst, and an attacker's connections are dropped
#: after `HEADER_SECONDS` anyway.
MAX_CONNECTIONS = 1000
#: Open files the console asks for: the connections, the store, templates and spare.
OPEN_FILES = MAX_CONNECTIONS + 1024


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


def raise_open_file_limit(wanted: int = OPEN_FILES) -> int:
    """Raise this process's soft limit of open files to `wanted` (at most its hard limit; the
    systemd unit sets both); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning("only %d files may be open: fewer than %d connections at once", soft,
                    MAX_CONNECTIONS)
    return soft


def guarded_protocol():
    """uvicorn's h11 protocol with a deadline for each request's headers and a cap on open
    connections (see the module docstring). Made on first use: uvicorn is imported only by a
    command that serves."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedProtocol(H11Protocol):
        def connection_made(self, transport) -> None:
            self._headers_due = None
            super().connection_made(transport)
            if len(self.connections) > MAX_CONNECTIONS:
                transport.close()
                return
            self._wait_for_headers()

        def handle_events(self) -> None:
            super().handle_events()
            if self._headers_due is not None and getattr(self, "scope", None) is not \
                    self._scope_before:
                self._headers_due.cancel()  # a request's headers came: the app has it now
                self._headers_due = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._wait_for_headers()  # the next request on this connection

        def connection_lost(self, exc) -> None:
            if self._headers_due is not None:
                self._headers_due.cancel()
                self._headers_due = None
            super().connection_lost(exc)

        def _wait_for_headers(self) -> None:
            self._scope_before = getattr(self, "scope", None)
            self._headers_due = self.loop.call_later(HEADER_SECONDS, self._headers_too_slow)

        def _headers_too_slow(self) -> None:
            self._headers_due = None
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedProtocol


def serve(app, listening: socket.socket, log_level: str = "info") -> None:
    """Run `app` on `listening` until Ctrl-C or SIGTERM. No access log: its URLs would put
    guests' ids and searched names into the system log."""
    import uvicorn

    raise_open_file_limit()
    # the robot's C heap settings: without them, the 100 MB SFace frees after an enrolment
    # stayed in the console's thread arenas (267 MB resident after one enrolment, not ~170)
    keep_heap_small()
    config = uvicorn.Config(app, log_level=log_level, access_log=False, server_header=False,
                            proxy_headers=False, http=guarded_protocol(),
                            timeout_keep_alive=KEEP_ALIVE_SECONDS,
                            h11_max_incomplete_event_size=HEADER_BYTES)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C, raised again after the shutdown
        uvicorn.Server(config).run(sockets=[listening])
