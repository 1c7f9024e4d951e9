"""The media sweep: delete stored files that no row names (photos of a failed or rolled-back upload,
photos removed from their listing).

Rule: a file is deleted only when no row references it and it was last written more than
MEDIA_SWEEP_GRACE_HOURS ago. An upload stores its files before its transaction commits the rows
that name them, so a younger file may still be about to be referenced. Saving content that is
already stored renews its time (storage.save), and each file's time is read again just before it
is deleted, so a re-upload of an old photo during the sweep keeps it (unless it falls in the
instant between that read and the delete: the store offers no conditional delete to close it).
"""
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice

from flask import current_app
from sqlalchemy import column, select, table, union

from marketplace.catalog.models import ProductImage
from marketplace.common import storage
from marketplace.common.time import utcnow
from marketplace.extensions import db

# Keys asked about at once: one store listing page, one query over the rows naming them.
BATCH = 1000
# Claims' photos are stored here too; claims sits above catalog, so its table is named, not imported.
CLAIM_PHOTOS = table("claim_photos", column("image_key"), column("thumbnail_key"))


def sweep_unreferenced_files(now: datetime | None = None) -> int:
    """Delete the stored files no row names that are older than the grace period; return how many."""
    cutoff = (now or utcnow()) - timedelta(hours=current_app.config["MEDIA_SWEEP_GRACE_HOURS"])
    deleted = 0
    old_files = _old_files(cutoff)
    while batch := list(islice(old_files, BATCH)):
        named = _referenced(batch)
        for key in batch:
            if key in named:
                continue
            written = storage.modified_at(key)  # again: it may have been saved again meanwhile
            if written is not None and written < cutoff:
                storage.delete(key)
                deleted += 1
    return deleted


def _old_files(cutoff: datetime) -> Iterator[str]:
    return (stored.key for stored in storage.stored_files() if stored.modified_at < cutoff)


def _referenced(keys: list[str]) -> set[str]:
    """Which of ``keys`` a row names: every column that holds a media key is asked here."""
    named = set(db.session.scalars(union(
        select(ProductImage.image_key).where(ProductImage.image_key.in_(keys)),
        select(ProductImage.thumbnail_key).where(ProductImage.thumbnail_key.in_(keys)),
        select(CLAIM_PHOTOS.c.image_key).where(CLAIM_PHOTOS.c.image_key.in_(keys)),
        select(CLAIM_PHOTOS.c.thumbnail_key).where(CLAIM_PHOTOS.c.thumbnail_key.in_(keys)),
    )))
    # Nothing was written: this only ends the read's transaction rather than hold it open while
    # the store lists and deletes (a long sweep of a big bucket must not hold back vacuum).
    db.session.commit()
    return named
