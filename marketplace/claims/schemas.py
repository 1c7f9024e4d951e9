"""Input and output schemas of claims."""
import marshmallow as ma
from marshmallow import validate

from marketplace.claims.models import ClaimReason, ClaimStatus
from marketplace.common import storage
from marketplace.common.schemas import (
    MAX_AMOUNT_FEN,
    NOT_BLANK,
    PageArgs,
    Schema,
    UtcDateTime,
    amount_field,
    id_field,
    page_of,
)


class ClaimIn(Schema):
    order_line_id = id_field(required=True)
    reason = ma.fields.String(required=True, validate=validate.OneOf(list(ClaimReason)),
                              metadata={"description": "damaged, rotten, short_weight, wrong_item or not_received"})
    description = ma.fields.String(required=True, validate=[validate.Length(min=2, max=1000), NOT_BLANK])
    amount_fen = amount_field(metadata={
        "description": "Amount asked, in fen: at most the line's paid amount less what was or is being refunded"})


class PhotoUpload(Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class OfferIn(Schema):
    amount_fen = amount_field(metadata={"description": "Less than the amount asked"})
    note = ma.fields.String(load_default=None, validate=validate.Length(max=1000))


class ContestIn(Schema):
    note = ma.fields.String(required=True, validate=[validate.Length(min=2, max=1000), NOT_BLANK],
                            metadata={"description": "Why the seller contests; administrators decide"})


class EscalateIn(Schema):
    note = ma.fields.String(load_default=None, validate=validate.Length(max=1000))


class DecisionIn(Schema):
    amount_fen = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=MAX_AMOUNT_FEN),
                                   metadata={"description": "Granted, in fen: 0 up to what the line can still give back"})
    reason = ma.fields.String(required=True, validate=[validate.Length(min=2, max=1000), NOT_BLANK])


class ClaimListArgs(PageArgs):
    status = ma.fields.String(load_default=None, validate=validate.OneOf(list(ClaimStatus)))


class ClaimPhotoOut(Schema):
    id = ma.fields.Integer(required=True)
    side = ma.fields.String(required=True, metadata={"description": "buyer or seller"})
    url = ma.fields.Function(lambda photo: storage.url(photo.image_key), required=True)
    thumbnail_url = ma.fields.Function(lambda photo: storage.url(photo.thumbnail_key), required=True)
    width = ma.fields.Integer(required=True)
    height = ma.fields.Integer(required=True)


class ClaimEventOut(Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={
        "description": "opened, photo_added, offered, accepted, offer_accepted, contested, escalated, decided, "
                       "auto_accepted, refunded or closed"})
    actor_user_id = ma.fields.Integer(allow_none=True, metadata={"description": "None for the system (deadlines, refunds)"})
    amount_fen = ma.fields.Integer(allow_none=True)
    note = ma.fields.String(allow_none=True)
    created_at = UtcDateTime(required=True)


class ClaimOut(Schema):
    id = ma.fields.Integer(required=True)
    order_id = ma.fields.Integer(required=True)
    order_line_id = ma.fields.Integer(required=True)
    line_title = ma.fields.String(required=True, attribute="line.title")
    line_total_fen = ma.fields.Integer(required=True, attribute="line.line_total_fen")
    buyer_user_id = ma.fields.Integer(required=True)
    seller_user_id = ma.fields.Integer(required=True)
    opened_by_user_id = ma.fields.Integer(required=True)
    reason = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    amount_asked_fen = ma.fields.Integer(required=True)
    offered_fen = ma.fields.Integer(allow_none=True)
    granted_fen = ma.fields.Integer(allow_none=True)
    status = ma.fields.String(required=True, metadata={
        "description": "open (the seller's turn), offered (the buyer's turn), escalated (the administrators'), "
                       "accepted (refund on its way), refunded (confirmed) or closed (ended without money)"})
    respond_by = UtcDateTime(allow_none=True, metadata={
        "description": "While open or offered: past this, the claim (or the offer) is accepted automatically"})
    seller_note = ma.fields.String(allow_none=True)
    decided_by_user_id = ma.fields.Integer(allow_none=True)
    decided_at = UtcDateTime(allow_none=True)
    decision_reason = ma.fields.String(allow_none=True)
    refund_id = ma.fields.Integer(allow_none=True)
    created_at = UtcDateTime(required=True)
    resolved_at = UtcDateTime(allow_none=True)
    refunded_at = UtcDateTime(allow_none=True)
    photos = ma.fields.List(ma.fields.Nested(ClaimPhotoOut), required=True)
    events = ma.fields.List(ma.fields.Nested(ClaimEventOut), required=True)


ClaimPageOut = page_of(ClaimOut, "ClaimPageOut")
