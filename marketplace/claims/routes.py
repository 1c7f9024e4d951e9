"""Claim endpoints: the buyer (or the partner for a villager) opens and follows a claim, the seller
answers, administrators decide escalated ones."""
from flask.views import MethodView

from marketplace.accounts.auth import current_caller, current_user, requires
from marketplace.claims import services
from marketplace.claims.schemas import (
    ClaimIn,
    ClaimListArgs,
    ClaimOut,
    ClaimPageOut,
    ContestIn,
    DecisionIn,
    EscalateIn,
    OfferIn,
    PhotoUpload,
)
from marketplace.errors import ErrorOut
from marketplace.extensions import Blueprint, image_upload_limit
from marketplace.orders.errors import OrderErrorCode

bp = Blueprint("claims", __name__, url_prefix="/api/v1",
               description="After-sales claims on order lines: open, answer, escalate, decide")

photo_uploads = image_upload_limit(lambda: current_caller().user_id, lambda: 1)


@bp.route("/claims")
class Claims(MethodView):
    @requires("buyer", "partner")
    @bp.arguments(ClaimIn())
    @bp.response(201, ClaimOut)
    def post(self, fields):
        """Open a claim on a delivered order line (its buyer, or the partner who ordered for a villager)"""
        return services.open_claim(fields.pop("order_line_id"), current_user(), **fields)

    @requires("buyer", "partner")
    @bp.arguments(ClaimListArgs(), location="query")
    @bp.response(200, ClaimPageOut)
    def get(self, args):
        """My claims (as the buyer, or opened for villagers), newest first"""
        return services.my_claims(current_user(), **args)


@bp.route("/claims/escalated")
class EscalatedClaims(MethodView):
    @requires("admin")
    @bp.arguments(ClaimListArgs(only=("page", "per_page")), location="query")
    @bp.response(200, ClaimPageOut)
    def get(self, args):
        """Escalated claims awaiting a decision, oldest first (administrators)"""
        return services.escalated_claims(**args)


@bp.route("/orders/<id:order_id>/claims")
class OrderClaims(MethodView):
    @requires()
    @bp.response(200, ClaimOut(many=True))
    @bp.alt_response(404, schema=ErrorOut, description=f"{OrderErrorCode.ORDER_NOT_FOUND}: no such order, or not one "
                     "the caller may see")
    def get(self, order_id):
        """Every claim on an order's lines, oldest first, with photos and timelines (whoever may see the
        order: its buyer or partner, its seller, administrators)"""
        return services.claims_of_order(order_id, current_user())


@bp.route("/claims/<id:claim_id>")
class ClaimDetail(MethodView):
    @requires()
    @bp.response(200, ClaimOut)
    def get(self, claim_id):
        """One claim with its photos and timeline (its buyer or partner, its seller, administrators)"""
        return services.get_claim(claim_id, current_user())


@bp.route("/claims/<id:claim_id>/photos")
class ClaimPhotos(MethodView):
    @requires("buyer", "partner", "seller")
    @photo_uploads
    @bp.arguments(PhotoUpload(), location="files")
    @bp.response(201, ClaimOut)
    @bp.alt_response(429, schema=ErrorOut, description="More photos this minute than IMAGE_UPLOAD_RATE_LIMIT allows (rate_limited)")
    def post(self, files, claim_id):
        """Add a photo to a pending claim (JPEG, PNG, WebP or HEIC; at most 4 from each side)"""
        return services.add_photo(claim_id, current_user(), files["file"].read())


@bp.route("/claims/<id:claim_id>/accept")
class AcceptClaim(MethodView):
    @requires("seller")
    @bp.response(200, ClaimOut)
    def post(self, claim_id):
        """Accept a claim: the amount asked is refunded (the order line's seller)"""
        return services.accept_claim(claim_id, current_user())


@bp.route("/claims/<id:claim_id>/offer")
class OfferOnClaim(MethodView):
    @requires("seller")
    @bp.arguments(OfferIn())
    @bp.response(200, ClaimOut)
    def post(self, fields, claim_id):
        """Offer less than asked; the buyer accepts or escalates (the order line's seller)"""
        return services.offer_on_claim(claim_id, current_user(), **fields)


@bp.route("/claims/<id:claim_id>/contest")
class ContestClaim(MethodView):
    @requires("seller")
    @bp.arguments(ContestIn())
    @bp.response(200, ClaimOut)
    def post(self, fields, claim_id):
        """Contest a claim with a note: it goes to the administrators at once (the order line's seller)"""
        return services.contest_claim(claim_id, current_user(), **fields)


@bp.route("/claims/<id:claim_id>/accept-offer")
class AcceptOffer(MethodView):
    @requires("buyer", "partner")
    @bp.response(200, ClaimOut)
    def post(self, claim_id):
        """Accept the seller's offer: it is refunded (the claimant)"""
        return services.accept_offer(claim_id, current_user())


@bp.route("/claims/<id:claim_id>/escalate")
class EscalateClaim(MethodView):
    @requires("buyer", "partner")
    @bp.arguments(EscalateIn())
    @bp.response(200, ClaimOut)
    def post(self, fields, claim_id):
        """Refuse the seller's offer: administrators decide (the claimant)"""
        return services.escalate_claim(claim_id, current_user(), **fields)


@bp.route("/claims/<id:claim_id>/decision")
class DecideClaim(MethodView):
    @requires("admin")
    @bp.arguments(DecisionIn())
    @bp.response(200, ClaimOut)
    def post(self, fields, claim_id):
        """Decide an escalated claim: 0 up to what the line can still give back, with a reason; final (administrators)"""
        return services.decide_claim(claim_id, current_user(), **fields)


@bp.route("/seller/claims")
class SellerClaims(MethodView):
    @requires("seller")
    @bp.arguments(ClaimListArgs(), location="query")
    @bp.response(200, ClaimPageOut)
    def get(self, args):
        """Claims on my order lines, those awaiting my answer soonest first (sellers)"""
        return services.seller_claims(current_user(), **args)
