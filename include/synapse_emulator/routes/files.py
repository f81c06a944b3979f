"""File service (/file/v1) and the repo-side storage settings: multipart upload, file handles,
external S3 handles, upload destinations, storage locations and project settings."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from synapse_emulator.models import Backend, files
from synapse_emulator.routes.deps import backend, base_url, caller, json_body

file_router = APIRouter(prefix="/file/v1")
repo_router = APIRouter(prefix="/repo/v1")


@file_router.post("/file/multipart", status_code=201)
def start_multipart(forceRestart: bool = False, body: dict = Depends(json_body), user: dict = Depends(caller),
                    b: Backend = Depends(backend)) -> dict:
    return files.start_multipart(b, user, body, force_restart=forceRestart)


@file_router.post("/file/multipart/{upload_id}/presigned/url/batch", status_code=201)
def presigned_batch(upload_id: str, request: Request, body: dict = Depends(json_body), user: dict = Depends(caller),
                    b: Backend = Depends(backend)) -> dict:
    return files.presigned_urls(b, user, base_url(request), upload_id, body)


@file_router.put("/file/multipart/{upload_id}/add/{part_number}")
def add_part(upload_id: str, part_number: int, partMD5Hex: str = "", user: dict = Depends(caller),
             b: Backend = Depends(backend)) -> dict:
    return files.add_part(b, user, upload_id, part_number, partMD5Hex)


@file_router.put("/file/multipart/{upload_id}/complete")
def complete(upload_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return files.complete(b, user, upload_id)


@file_router.get("/fileHandle/{handle_id}")
def get_handle(handle_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return files.view(files.read_handle(b, user, handle_id))


@file_router.get("/fileHandle/{handle_id}/url")
def handle_url(handle_id: str, request: Request, user: dict = Depends(caller), b: Backend = Depends(backend)):
    url = files.download_url(b, base_url(request), files.read_handle(b, user, handle_id))
    return Response(content=url, media_type="text/plain")


@file_router.post("/fileHandle/batch", status_code=201)
def handle_batch(request: Request, body: dict = Depends(json_body), user: dict = Depends(caller),
                 b: Backend = Depends(backend)) -> dict:
    return files.batch(b, user, base_url(request), body)


@file_router.post("/externalFileHandle/s3", status_code=201)
def external_s3(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return files.view(files.create_external_s3_handle(b, user, body))


@file_router.post("/externalFileHandle", status_code=201)
def external(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return files.view(files.create_external_object_store_handle(b, user, body))


@file_router.get("/entity/{entity_id}/uploadDestination")
def upload_destination(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return files.upload_destination(b, user, entity_id)


@file_router.get("/entity/{entity_id}/uploadDestination/{location_id}")
def upload_destination_at(entity_id: str, location_id: int, user: dict = Depends(caller),
                          b: Backend = Depends(backend)) -> dict:
    return files.upload_destination(b, user, entity_id, location_id)


@file_router.get("/entity/{entity_id}/uploadDestinationLocations")
def upload_destination_locations(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return {"list": files.destination_locations(b, user, entity_id)}


@repo_router.post("/storageLocation", status_code=201)
def create_storage_location(body: dict = Depends(json_body), user: dict = Depends(caller),
                            b: Backend = Depends(backend)) -> dict:
    return files.create_storage_location(b, user, body)


@repo_router.get("/storageLocation/{location_id}")
def get_storage_location(location_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return files.get_my_storage_location(b, user, location_id)


@repo_router.post("/projectSettings", status_code=201)
@repo_router.put("/projectSettings")
def put_project_setting(body: dict = Depends(json_body), user: dict = Depends(caller),
                        b: Backend = Depends(backend)) -> dict:
    return files.create_project_setting(b, user, body)


@repo_router.get("/projectSettings/{project_id}/type/{setting_type}")
def get_project_setting(project_id: str, setting_type: str, user: dict = Depends(caller),
                        b: Backend = Depends(backend)):
    setting = files.get_project_setting(b, user, project_id) if setting_type == "upload" else None
    # Synapse answers with an empty body when the project uses Synapse storage.
    return setting if setting is not None else Response(status_code=204)


@repo_router.delete("/projectSettings/{setting_id}", status_code=204)
def delete_project_setting(setting_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> Response:
    files.delete_project_setting(b, user, setting_id)
    return Response(status_code=204)
