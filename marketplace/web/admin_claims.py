"""Administration pages of claims (/admin/claims), on the admin blueprint: the queue of escalated
claims, oldest first, and each claim's page where an administrator decides the amount given back
(0 up to what the line can still give back) with a reason, the seller's claim rate beside it."""
from flask import render_template, url_for

from marketplace.claims import services as claims
from marketplace.errors import AppError
from marketplace.web import claims as claim_pages
from marketplace.web.admin import BadPageNumber, admin_page, bp, page_number, page_refused

CLAIMS_PER_PAGE = 20


def _where(claim, user) -> dict:
    """What the admin's claim page shows beyond the claim: the seller's rate, the most it may grant."""
    return {"layout": "pages/admin/layout.html", "act_endpoint": "admin.claim_act",
            "rate": claims.seller_claim_rate(claim.seller_user_id),
            "maximum": claims.refundable_fen(claim.order_line_id, user)}


@bp.get("/claims")
@admin_page
def claim_queue(user):
    """Escalated claims waiting for a decision, oldest first."""
    try:
        number = page_number()
    except BadPageNumber:
        return page_refused()
    queue = claims.escalated_claims(page=number, per_page=CLAIMS_PER_PAGE)
    rates = {seller: claims.seller_claim_rate(seller) for seller in {claim.seller_user_id for claim in queue.items}}
    return render_template("pages/admin/claims.html", queue=queue, rates=rates, reasons=claim_pages.REASON_LABELS)


@bp.get("/claims/<id:claim_id>")
@admin_page
def claim(user, claim_id):
    try:
        found = claims.get_claim(claim_id, user)
        return claim_pages.claim_page(user, found, "admin", _where(found, user))
    except AppError as error:
        return claim_pages.refused(error)


@bp.route("/claims/<id:claim_id>/<any(decide):action>", methods=["GET", "POST"])
@admin_page
def claim_act(user, claim_id, action):
    """The decision (final): a refund of the amount granted, or the claim closed at 0."""
    try:
        found = claims.get_claim(claim_id, user)
        return claim_pages.act(user, claim_id, action, "admin", _where(found, user),
                               url_for(".claim", claim_id=claim_id))
    except AppError as error:
        return claim_pages.refused(error)
