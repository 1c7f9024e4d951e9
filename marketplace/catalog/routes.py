"""Catalog endpoints: the public catalog, sellers' listings, photos and review."""
from flask import Response, abort, jsonify, request
from flask.views import MethodView
from werkzeug.wsgi import wrap_file

from marketplace.accounts.auth import current_caller, current_user, optional_user, requires
from marketplace.catalog import browse, services
from marketplace.catalog.errors import CatalogErrorCode
from marketplace.catalog.schemas import (
    BrowseArgs,
    CategoryOut,
    ImageUpload,
    ProductCreate,
    ProductCursorPageOut,
    ProductDetailPageOut,
    ProductOut,
    ProductUpdate,
    RejectionIn,
    ReviewOut,
    SellerListArgs,
    StockAdjustment,
)
from marketplace.catalog.taxonomy import CATEGORY_LABELS
from marketplace.common import storage
from marketplace.common.etags import expected_version, respond_with_etag
from marketplace.common.schemas import PageArgs
from marketplace.common.sql import read_replica
from marketplace.errors import ErrorOut
from marketplace.extensions import Blueprint, image_upload_limit

bp = Blueprint("catalog", __name__, url_prefix="/api/v1", description="Products, photos and listing review")
# One photo a request, counted with the listing forms' photos against IMAGE_UPLOAD_RATE_LIMIT.
photo_uploads = image_upload_limit(lambda: current_caller().user_id, lambda: 1)

MEDIA_CHUNK_BYTES = 64 * 1024
IF_MATCH = {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
            "description": "The ETag of the listing as last read; required, else 428"}


@bp.route("/categories")
class Categories(MethodView):
    @bp.response(200, CategoryOut(many=True))
    def get(self):
        """The fixed category taxonomy with Chinese and English labels"""
        return [{"code": c.value, "label_zh": zh, "label_en": en} for c, (zh, en) in CATEGORY_LABELS.items()]


@bp.route("/products")
class Products(MethodView):
    @bp.arguments(BrowseArgs(), location="query")
    @bp.response(200, ProductCursorPageOut)
    @bp.alt_response(422, schema=ErrorOut, description="invalid_cursor: a cursor this listing did not hand out, "
                     "or filters or a sort other than the cursor's")
    def get(self, args):
        """Browse active listings: search, filter by origin and price, sort; pages by cursor"""
        # Anonymous (no token is read): the replica, for everyone. A seller's own listings, in
        # every status and as last written, are GET /seller/products, on the primary.
        with read_replica():
            return jsonify(browse.browse_page(**args))

    @requires("seller")
    @bp.arguments(ProductCreate())
    @bp.response(201, ProductOut)
    def post(self, fields):
        """List a product (sellers); a draft unless publish is true"""
        return respond_with_etag(services.create_product(current_user(), **fields), 201)


@bp.route("/products/<id:product_id>")
class ProductDetail(MethodView):
    @bp.response(200, ProductOut)
    @bp.alt_response(304, description="Not modified (If-None-Match matched)")
    def get(self, product_id):
        """One listing with its origin, seller and photos (conditional GET with ETag)"""
        viewer = optional_user()  # a bad token is refused even here
        # The ETag is computed from the row the body is drawn from, on whichever database read it,
        # so a 304 is never sent for a body the client does not have.
        with read_replica(enabled=browse.reads_may_lag(viewer)):
            public = browse.public_product(product_id)
        if public is not None:
            body, etag = public
            return respond_with_etag(body, etag=etag)
        # Not on sale: only its seller and administrators may see it.
        return respond_with_etag(services.visible_product(product_id, viewer))

    @requires("seller", "admin")
    @bp.arguments(ProductUpdate())
    @bp.doc(parameters=[IF_MATCH])
    @bp.response(200, ProductOut)
    @bp.alt_response(409, schema=ErrorOut, description=f"{CatalogErrorCode.PRICE_NOT_ABOVE_CAMPAIGN}: the listing is "
                     "in a campaign (approved, not ended) whose price is at or above the new price")
    def patch(self, fields, product_id):
        """Edit a listing (owner or administrator); needs If-Match"""
        product = services.update_product(product_id, current_user(), expected_version(), **fields)
        return respond_with_etag(product)

    @requires("seller", "admin")
    @bp.response(204)
    def delete(self, product_id):
        """Delete a draft (owner or administrator); listed products are paused instead"""
        services.delete_draft(product_id, current_user())


def _action(name: str, summary: str, roles=("seller", "admin")):
    """A POST /products/<id>/<name> endpoint that moves a listing's status."""
    service = getattr(services, f"{name}_product")

    class Action(MethodView):
        @requires(*roles)
        @bp.response(200, ProductOut)
        def post(self, product_id):
            return respond_with_etag(service(product_id, current_user()))

    Action.post.__doc__ = summary
    Action.__name__ = f"Product{name.title()}"
    bp.route(f"/products/<id:product_id>/{name.replace('_', '-')}", endpoint=f"product_{name}")(Action)


_action("submit", "Put a draft or rejected listing up for sale (reviewed unless the seller is verified)")
_action("pause", "Take an active listing off sale")
_action("resume", "Put a paused listing back on sale")
_action("approve", "Approve a listing waiting for review (administrators)", roles=("admin",))


@bp.route("/products/<id:product_id>/reject")
class ProductReject(MethodView):
    @requires("admin")
    @bp.arguments(RejectionIn())
    @bp.response(200, ProductOut)
    def post(self, fields, product_id):
        """Reject a listing waiting for review, with a reason the seller sees (administrators)"""
        return respond_with_etag(services.reject_product(product_id, current_user(), fields["reason"]))


@bp.route("/products/<id:product_id>/reviews")
class ProductReviews(MethodView):
    @requires("seller", "admin")
    @bp.response(200, ReviewOut(many=True))
    def get(self, product_id):
        """The listing's review history: each submission and decision, who and when (owner or administrator)"""
        return services.review_history(product_id, current_user())


@bp.route("/products/<id:product_id>/stock-adjustments")
class StockAdjustments(MethodView):
    @requires("seller", "admin")
    @bp.arguments(StockAdjustment())
    @bp.response(200, ProductOut)
    def post(self, fields, product_id):
        """Add or remove stock units (never below zero)"""
        return respond_with_etag(services.adjust_stock(product_id, current_user(), fields["delta"]))


@bp.route("/products/<id:product_id>/images")
class ProductImages(MethodView):
    @requires("seller", "admin")
    @photo_uploads
    @bp.arguments(ImageUpload(), location="files")
    @bp.response(201, ProductOut)
    @bp.alt_response(429, schema=ErrorOut, description="More photos this minute than IMAGE_UPLOAD_RATE_LIMIT allows (rate_limited)")
    def post(self, files, product_id):
        """Upload a photo (JPEG, PNG, WebP or HEIC, at most 10 MB and 24 megapixels; at most 6 per listing)"""
        content = files["file"].read()
        return respond_with_etag(services.add_image(product_id, current_user(), content), 201)


@bp.route("/products/<id:product_id>/images/<id:image_id>")
class ProductImageDetail(MethodView):
    @requires("seller", "admin")
    @bp.response(200, ProductOut)
    def delete(self, product_id, image_id):
        """Remove a photo"""
        return respond_with_etag(services.remove_image(product_id, image_id, current_user()))


@bp.route("/seller/products")
class SellerProducts(MethodView):
    @requires("seller")
    @bp.arguments(SellerListArgs(), location="query")
    @bp.response(200, ProductDetailPageOut)
    def get(self, args):
        """My listings, in every status (sellers)"""
        return services.list_seller_products(current_user(), **args)


@bp.route("/review/products")
class ReviewQueue(MethodView):
    @requires("admin")
    @bp.arguments(PageArgs(), location="query")
    @bp.response(200, ProductDetailPageOut)
    def get(self, args):
        """Listings waiting for review, oldest first (administrators)"""
        return services.review_queue(**args)


def serve_media(key: str):
    """Uploaded photos, from whichever store holds them: content-addressed, so cached for a year,
    and a copy a browser revalidates is current whenever its ETag (the digest) matches, without
    asking the store. Whatever is not a media key is not found, before the store is asked."""
    if not storage.is_key(key):
        abort(404)
    digest = storage.digest(key)
    if request.if_none_match.contains_weak(digest):
        response = Response(status=304)
    else:
        media = storage.open_file(key)
        if media is None:
            abort(404)
        # Streamed in chunks (from disk, or from the object store's open response), never read whole.
        response = Response(wrap_file(request.environ, media.stream, MEDIA_CHUNK_BYTES),
                            mimetype=media.content_type, direct_passthrough=True)
        response.content_length = media.length  # nosniff: on every response (web/security_headers.py)
    response.set_etag(digest)
    response.headers["Cache-Control"] = storage.IMMUTABLE
    return response
