"""What one HTTP connection may cost the service: uvicorn's configuration, built from Settings.

:func:`server_config` builds the uvicorn :class:`~uvicorn.Config` from
:class:`~api.settings.Settings`, for ``assay serve`` and for the tests' servers alike, so
that the tests run the service as it is deployed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from api.settings import Settings


def server_config(
    app: Callable[..., Any] | str,
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int = 1,
    factory: bool = False,
) -> uvicorn.Config:
    """The uvicorn configuration of the service: ``assay serve`` and the tests both run it."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=workers,
        factory=factory,
        loop="uvloop",
        http="httptools",
        timeout_keep_alive=settings.keepalive_timeout_seconds,
        server_header=False,  # no "server: uvicorn" banner; the date header stays
        date_header=True,
        # A lifespan that fails stops the server, rather than serving without a Service.
        lifespan="on",
        access_log=settings.access_log,
        log_level="warning",
    )


def run_server(config: uvicorn.Config) -> None:
    """Serve ``config`` until stopped: ``uvicorn.run`` for a Config built here (``run``
    builds its own Config). Several workers share one socket."""
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:
        pass
    if config.workers == 1 and not server.started:
        sys.exit(STARTUP_FAILURE)
