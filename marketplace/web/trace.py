"""Trace pages (溯源, /trace/<token>): where a listing, or the order line printed on a parcel as a
QR code, comes from; public, with no personal data (flows/trace.py reads it). The QR codes of the
sellers' and station partners' label pages are drawn here too (SVG, by segno)."""
import segno
from flask import Blueprint, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from marketplace.errors import AppError
from marketplace.flows import trace as trace_service
from marketplace.web.storefront_cache import render_page, storefront_page

bp = Blueprint("trace", __name__)

QR_SCALE = 4  # px per module: a code of about 3 cm on a printed label


@bp.get("/trace/<token>")
def page(token: str):
    return storefront_page(lambda: _trace_page(token))


def _trace_page(token: str) -> tuple[str, int]:
    try:
        found = trace_service.read_trace(token)
    except AppError as error:
        return render_page("pages/error.html", error.status, status=error.status, code=error.code,
                           message=_("No product has this trace code. Check the code on the parcel."))
    return render_page("pages/shop/trace.html", trace=found)


def trace_url(token) -> str:
    """The absolute address of a trace page, as its QR code encodes it."""
    return url_for("trace.page", token=str(token), _external=True)


@bp.app_template_global()
def trace_qr(token) -> Markup:
    """The QR code (inline SVG) of the trace page of ``token``: what a label prints."""
    url = trace_url(token)
    code = segno.make(url, error="m")
    return Markup(code.svg_inline(scale=QR_SCALE, title=url))
