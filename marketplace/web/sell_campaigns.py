"""Sellers' campaign page (/sell/campaigns): propose one of their listings for a campaign on now
or to come (its price, the units for it, the limit per buyer), and follow their proposals: waiting,
in the campaign, rejected with the reason, or withdrawn."""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from marketplace.campaigns import services as campaigns
from marketplace.catalog import services as catalog
from marketplace.errors import AppError
from marketplace.web.campaign_forms import ButtonOnlyForm, ProposalForm, campaign_messages, show_refusal
from marketplace.web.session import error_page, people_page

bp = Blueprint("sell_campaigns", __name__, url_prefix="/sell/campaigns")

LISTINGS_OFFERED = 100  # the newest of a seller's listings on sale
PROPOSALS_SHOWN = 50


def _state_labels() -> dict[str, str]:
    return {"pending": _("Waiting for a decision"), "approved": _("In the campaign"), "rejected": _("Rejected"),
            "withdrawn": _("Withdrawn"), "removed": _("Taken out of the campaign")}


def _proposal_form(user, formdata=False) -> ProposalForm:
    form = ProposalForm() if formdata else ProposalForm(formdata=None)
    english = str(get_locale()) == "en"
    form.campaign_id.choices = [(entry["campaign"].id, entry["campaign"].name_en if english else entry["campaign"].name_zh)
                                for entry in campaigns.public_campaigns()]
    listings = catalog.list_seller_products(user, status="active", page=1, per_page=LISTINGS_OFFERED).items
    form.product_id.choices = [(product.id, f"{product.title} (¥{product.price_fen / 100:.2f})") for product in listings]
    return form


def _page(user, form: ProposalForm, status: int = 200):
    proposals = campaigns.list_own_proposals(user, page=1, per_page=PROPOSALS_SHOWN)
    return render_template("pages/sell/campaigns.html", form=form, proposals=proposals.items,
                           upcoming=campaigns.public_campaigns(), states=_state_labels(),
                           button=ButtonOnlyForm()), status


@bp.get("")
@people_page("seller")
def proposals(user):
    """The campaigns a listing may join, the proposal form, and the seller's proposals."""
    return _page(user, _proposal_form(user))


@bp.post("")
@people_page("seller")
def propose(user):
    form = _proposal_form(user, formdata=True)
    if not form.validate():
        return _page(user, form, 422)
    try:
        item = campaigns.propose_item(form.campaign_id.data, user, product_id=form.product_id.data, **form.terms())
    except AppError as error:
        show_refusal(form, error)
        return _page(user, form, error.status)
    flash(_("“%(title)s” is proposed; an administrator decides.", title=item.product.title), "notice")
    return redirect(url_for(".proposals"))


@bp.post("/<id:item_id>/withdraw")
@people_page("seller")
def withdraw(user, item_id):
    if not ButtonOnlyForm().validate():
        return error_page(400, _("This form has expired. Go back, reload the page and try again."))
    try:
        item = campaigns.withdraw_item(item_id, user)
    except AppError as error:
        return error_page(error.status, campaign_messages().get(error.code, error.message), error.code)
    flash(_("“%(title)s” is withdrawn.", title=item.product.title), "notice")
    return redirect(url_for(".proposals"))
