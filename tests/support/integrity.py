"""After a run: is every acknowledged write there, and do rows and objects match one to one?

The bucket is compared with the rows twice: as the run left it, where an upload that
died between storing its objects and committing its row may have left unreferenced
objects (each must be traceable to a failed upload), and after the sweep of
unreferenced objects, run with a grace of 0 since the load has stopped, which must leave
no object without its row and every row with its objects.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from sqlalchemy import create_engine, text

from snappy_devstack.backing import BackingServices
from snappy_monolith.config import sqlalchemy_url
from tests.support.load import LoadResult
from tests.support.stores import list_objects, s3_client
from tests.support.sweeps import run_sweep

__all__ = ["ReadBack", "StoreAudit", "audit_stores", "read_back", "unexplained_strays"]


@dataclass(frozen=True)
class ReadBack:
    """Acknowledged writes read back through the public API."""

    uploads_checked: int
    shares_checked: int
    # photo ids whose bytes did not come back as sent (missing, an error, or other bytes)
    lost_uploads: list[int]
    # (photo id, recipient) whose recipient cannot read the photo's bytes
    lost_shares: list[tuple[int, str]]

    @property
    def lost_writes(self) -> int:
        """Acknowledged writes that did not survive."""
        return len(self.lost_uploads) + len(self.lost_shares)


def read_back(base_url: str, result: LoadResult, *, readers: int = 4) -> ReadBack:
    """Read every acknowledged upload as its owner, and every share as its recipient, byte for byte."""
    sent = {upload.photo_id: upload for upload in result.uploads}
    with httpx.Client(base_url=base_url, timeout=30) as http:

        def reads_back(photo_id: int, reader: str) -> bool:
            response = http.get(
                f"/api/v1/photos/{photo_id}/content",
                headers={"Authorization": f"Bearer {result.tokens[reader]}"},
            )
            return response.status_code == 200 and response.content == sent[photo_id].data

        # A few readers at once: a few hundred sequential reads would dominate the test's time.
        with ThreadPoolExecutor(readers) as pool:
            uploads_back = list(pool.map(lambda u: reads_back(u.photo_id, u.owner), result.uploads))
            shares_back = list(pool.map(lambda s: reads_back(s.photo_id, s.recipient), result.shares))
    lost_uploads = [
        upload.photo_id for upload, back in zip(result.uploads, uploads_back, strict=True) if not back
    ]
    lost_shares = [
        (share.photo_id, share.recipient)
        for share, back in zip(result.shares, shares_back, strict=True)
        if not back
    ]
    return ReadBack(len(result.uploads), len(result.shares), lost_uploads, lost_shares)


@dataclass(frozen=True)
class StoreAudit:
    """The photo rows of the database against the bucket's listing."""

    rows: int
    # in the bucket as the run left it
    objects: int
    # photo ids missing an object, before or after the sweep
    rows_without_objects: list[int]
    # as the run left them: the remains of failed uploads, for the sweep to delete
    objects_without_rows: list[str]
    # rows no client was told about (their answer was lost): ids, each checked to hold sent bytes
    unacknowledged_rows: list[int]
    # unacknowledged rows or unreferenced objects whose bytes no client ever sent
    foreign_bytes: list[str]
    # objects the sweep deleted, and those without a row it left (there must be none)
    swept: int
    objects_without_rows_after_sweep: list[str]


def audit_stores(
    backing: BackingServices, version: str, database_url: str, bucket: str, result: LoadResult
) -> StoreAudit:
    """Compare the photo rows with the bucket both ways, trace strays to sent uploads, sweep, compare again.

    Call it once the load has stopped: the sweep runs with a grace of 0, which is safe
    only while no upload is in flight.
    """
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, object_key, thumbnail_key FROM photos")).all()
    finally:
        engine.dispose()
    keys = set(list_objects(backing, bucket))
    referenced = {key for _, object_key, thumbnail_key in rows for key in (object_key, thumbnail_key)}
    rows_without_objects = sorted(
        photo_id
        for photo_id, object_key, thumbnail_key in rows
        if object_key not in keys or thumbnail_key not in keys
    )
    objects_without_rows = sorted(keys - referenced)
    acknowledged = {upload.photo_id for upload in result.uploads}
    unacknowledged_rows = sorted(photo_id for photo_id, _, _ in rows if photo_id not in acknowledged)
    # A stray must be the remains of an upload some client sent; anything else came from nowhere.
    sent = set(result.sent_upload_bodies)
    client = s3_client(backing)
    originals = [key for key in objects_without_rows if key.startswith("photos/")] + [
        object_key for photo_id, object_key, _ in rows if photo_id in set(unacknowledged_rows)
    ]
    foreign_bytes = [
        key
        for key in originals
        if key in keys and client.get_object(Bucket=bucket, Key=key)["Body"].read() not in sent
    ]
    swept = run_sweep(backing, version, database_url, bucket, grace_seconds=0).deleted
    keys_after_sweep = set(list_objects(backing, bucket))
    rows_without_objects_after_sweep = [
        photo_id
        for photo_id, object_key, thumbnail_key in rows
        if object_key not in keys_after_sweep or thumbnail_key not in keys_after_sweep
    ]
    return StoreAudit(
        rows=len(rows),
        objects=len(keys),
        rows_without_objects=sorted(set(rows_without_objects) | set(rows_without_objects_after_sweep)),
        objects_without_rows=objects_without_rows,
        unacknowledged_rows=unacknowledged_rows,
        foreign_bytes=foreign_bytes,
        swept=swept,
        objects_without_rows_after_sweep=sorted(keys_after_sweep - referenced),
    )


def unexplained_strays(audit: StoreAudit, failed_uploads: int) -> list[str]:
    """Unreferenced objects that are not the remains of one of `failed_uploads` uploads.

    An upload stores its original, then its thumbnail, then commits its row, and deletes
    the objects when the row cannot be written. When the process dies in between
    (SIGKILL), or the object store itself is what failed (so the delete fails too), the
    objects stay, unreferenced and invisible to every user, until the sweep deletes them.
    Each such upload leaves its
    original, with or without its thumbnail, and no other object; and it failed, or
    it could not have left no row.
    """
    strays = audit.objects_without_rows
    originals = {key.removeprefix("photos/") for key in strays if key.startswith("photos/")}
    thumbnails = {key for key in strays if key.startswith("thumbnails/")}
    problems = [
        f"{key}: a thumbnail without its original"
        for key in thumbnails
        if key.removeprefix("thumbnails/").removesuffix(".jpg") not in originals
    ]
    others = [key for key in strays if not key.startswith(("photos/", "thumbnails/"))]
    problems += [f"{key}: not an upload's object" for key in others]
    # A failed upload whose row was committed anyway (its answer was lost) left no strays.
    budget = failed_uploads - len(audit.unacknowledged_rows)
    if len(originals) > budget:
        problems.append(f"{len(originals)} stray originals, only {budget} failed uploads without a row")
    return problems + [f"{key}: bytes no client sent" for key in audit.foreign_bytes]
