"""The presigned URLs the emulator hands out, standing in for S3: part PUTs and downloads.

Like S3, these take no Authorization header; the signature in the URL is the credential, and a
bad or expired one is a 403 (which synapseclient reads as "refresh the URL").
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse

from synapse_emulator.models import Backend, files
from synapse_emulator.routes.deps import backend

router = APIRouter(prefix="/_storage")


@router.put("/upload/{upload_id}/{part_number}")
async def put_part(upload_id: str, part_number: int, request: Request, b: Backend = Depends(backend)) -> Response:
    files.verify_signature(b, request.url.path, request.query_params)
    data = await request.body()
    etag = files.store_part(b, upload_id, part_number, data)
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})


@router.get("/download/{handle_id}/{file_name}")
def download(handle_id: str, file_name: str, request: Request, b: Backend = Depends(backend)) -> Response:
    files.verify_signature(b, request.url.path, request.query_params)
    handle = files.get_handle(b, handle_id)
    return FileResponse(b.blobs.path(files.blob_key(handle["id"])), media_type=handle.get("contentType"),
                        filename=handle.get("fileName"))
