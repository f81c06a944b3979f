"""Build the FastAPI application and run it: ``python -m synapse_emulator``."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from synapse_emulator.errors import SynapseError
from synapse_emulator.faults import FaultMiddleware, FaultTable
from synapse_emulator.models import Backend, users
from synapse_emulator.routes import admin, entities, files, grids, schemas, storage
from synapse_emulator.routes import users as user_routes
from synapse_emulator.state import State
from synapse_emulator.storage import BlobStorage
from synapse_emulator.throttle import Throttle

log = logging.getLogger("synapse_emulator")


def create_app(
    state_path: str | None = None,
    s3_endpoint_url: str | None = None,
    seed_users: list[str] | None = None,
    fault_seed: int | None = None,
) -> FastAPI:
    blobs_root = f"{state_path}.blobs" if state_path else None
    backend = Backend(state=State(state_path), blobs=BlobStorage(blobs_root), s3_endpoint_url=s3_endpoint_url)
    for spec in seed_users or []:
        users.create_user(backend, **users.parse_seed(spec))

    app = FastAPI(title="synapse_emulator", docs_url="/_emulator/docs", openapi_url="/_emulator/openapi.json",
                  redoc_url=None)
    app.state.backend = backend
    app.state.faults = FaultTable(seed=fault_seed)
    app.state.throttle = Throttle()

    @app.exception_handler(SynapseError)
    async def synapse_error(request: Request, exc: SynapseError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content=exc.body())

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse(status_code=400, content={"reason": f"Invalid request {where}: {first.get('msg', '')}"})

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        reason = getattr(exc, "detail", None)
        if reason in (None, "Not Found"):
            reason = f"The emulator does not serve {request.method} {request.url.path}"
            log.warning("unserved call: %s %s", request.method, request.url.path)
        return JSONResponse(status_code=404, content={"reason": reason})

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("emulator error on %s %s", request.method, request.url.path)
        return JSONResponse(status_code=500, content={"reason": f"Internal emulator error: {type(exc).__name__}"})

    for path in ("/repo/v1", "/auth/v1", "/file/v1", "/"):
        app.add_api_route(path, _root, methods=["GET"], include_in_schema=False)

    app.include_router(user_routes.repo)
    app.include_router(user_routes.auth)
    app.include_router(entities.router)
    app.include_router(files.file_router)
    app.include_router(files.repo_router)
    app.include_router(schemas.router)
    app.include_router(grids.router)
    app.include_router(storage.router)
    app.include_router(admin.router)
    app.add_middleware(FaultMiddleware, table=app.state.faults, throttle=app.state.throttle)
    return app


def _root() -> Response:
    # synapseclient's constructor GETs each endpoint root and only follows a 301.
    return JSONResponse({"status": "synapse_emulator"})


def build_parser() -> argparse.ArgumentParser:
    """The command line (also read by the docker-compose check)."""
    parser = argparse.ArgumentParser(prog="python -m synapse_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8999, help="0 picks a free port (printed when ready)")
    parser.add_argument("--state", help="SQLite file that keeps state across restarts (default: memory)")
    parser.add_argument("--seed-user", action="append", default=[], metavar="NAME:TOKEN[:FLAGS]",
                        help="add a user; FLAGS is a comma list of certified,2fa,tos (default: all three)")
    parser.add_argument("--s3-endpoint-url", default=os.environ.get("SYNAPSE_EMULATOR_S3_ENDPOINT_URL"),
                        help="S3 endpoint for external storage locations (moto in tests)")
    parser.add_argument("--log-level", default="warning")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        app = create_app(args.state, args.s3_endpoint_url, args.seed_user)
    except ValueError as exc:
        parser.error(str(exc))

    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    host, port = sock.getsockname()[:2]
    # The socket already accepts connections into its backlog, so "listening" is true now.
    print(f"synapse_emulator listening on http://{host}:{port}", flush=True)
    config = uvicorn.Config(app, log_level=args.log_level, access_log=False, timeout_keep_alive=30)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
