"""Page-number pagination over a SQLAlchemy select."""
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from marketplace.extensions import db


@dataclass
class Page:
    items: list[Any]
    page: int
    per_page: int
    total: int


def paginate(query: Select, page: int, per_page: int) -> Page:
    """Run ``query`` (which must already have a stable ORDER BY) for one page, with the total."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=list(items), page=page, per_page=per_page, total=total or 0)
