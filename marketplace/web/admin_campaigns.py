"""Administrators' campaign pages (/admin/campaigns) in the administration shell: the campaigns,
a new one, a campaign's window and names, its listings (added directly, or proposed by sellers and
approved or rejected here), removing a listing and cancelling a campaign. Each page calls the
services the API's endpoints call."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from marketplace.campaigns import services as campaigns
from marketplace.campaigns.errors import CampaignErrorCode
from marketplace.errors import AppError
from marketplace.web import admin
from marketplace.web.campaign_forms import (
    AddItemForm,
    ButtonOnlyForm,
    CampaignForm,
    ItemRejectForm,
    ItemTermsForm,
    campaign_messages,
    show_refusal,
)
from marketplace.web.session import error_page

bp = Blueprint("admin_campaigns", __name__, url_prefix="/admin/campaigns")
bp.context_processor(admin.shell)

def _state_labels() -> dict[str, str]:
    return {"pending": _("Waiting for a decision"), "approved": _("In the campaign"), "rejected": _("Rejected"),
            "withdrawn": _("Withdrawn by the seller"), "removed": _("Removed")}


def _refused(error: AppError):
    return error_page(error.status, campaign_messages().get(error.code, error.message), error.code)


def _list_page(form: CampaignForm, status: int = 200):
    try:
        page = campaigns.list_campaigns(page=admin.page_number(), per_page=admin.PER_PAGE)
    except admin.BadPageNumber:
        return admin.page_refused()
    return render_template("pages/admin/campaigns.html", page=page, form=form), status


@bp.get("")
@admin.admin_page
def campaign_list(user):
    """The campaigns, the latest start first, and the form of a new one."""
    return _list_page(CampaignForm(formdata=None))


@bp.post("")
@admin.admin_page
def create(user):
    form = CampaignForm()
    if not form.validate():
        return _list_page(form, 422)
    try:
        campaign = campaigns.create_campaign(user, **form.fields())
    except AppError as error:
        show_refusal(form, error)
        return _list_page(form, error.status)
    flash(_("Campaign “%(name)s” created. Add its listings below.", name=campaign.name_zh), "notice")
    return redirect(url_for(".campaign", campaign_id=campaign.id))


def _campaign_page(campaign_id: int, *, edit: CampaignForm | None = None, add: AddItemForm | None = None,
                   terms: tuple[int, ItemTermsForm] | None = None, status: int = 200):
    campaign = campaigns.get_campaign(campaign_id)
    items = campaigns.list_items(campaign_id)
    reject_forms = {item.id: ItemRejectForm(formdata=None) for item in items if item.state == "pending"}
    terms_forms = {item.id: ItemTermsForm(formdata=None, campaign_price=item.campaign_price_fen,
                                          stock_cap=item.stock_cap, per_buyer_limit=item.per_buyer_limit)
                   for item in items if item.state in ("pending", "approved")}
    if terms is not None:
        terms_forms[terms[0]] = terms[1]
    return render_template("pages/admin/campaign.html", campaign=campaign, items=items,
                           edit_form=edit or CampaignForm(formdata=None, obj=campaign),
                           add_form=add or AddItemForm(formdata=None), reject_forms=reject_forms,
                           terms_forms=terms_forms, button=ButtonOnlyForm(), states=_state_labels()), status


@bp.route("/<id:campaign_id>", methods=["GET", "POST"])
@admin.admin_page
def campaign(user, campaign_id):
    """A campaign: its names and window, its listings and the proposals waiting; posted, its names
    and window saved. (One rule for both methods, so an id out of range is not found for either.)"""
    if request.method == "POST":
        return _update(user, campaign_id)
    try:
        return _campaign_page(campaign_id)
    except AppError as error:
        return _refused(error)


def _update(user, campaign_id):
    form = CampaignForm()
    try:
        if not form.validate():
            return _campaign_page(campaign_id, edit=form, status=422)
        campaigns.update_campaign(campaign_id, user, **form.fields(with_flag=False))
    except AppError as error:
        if error.status == 404:
            return _refused(error)
        show_refusal(form, error)
        return _campaign_page(campaign_id, edit=form, status=error.status)
    flash(_("Campaign saved."), "notice")
    return redirect(url_for(".campaign", campaign_id=campaign_id))


@bp.post("/<id:campaign_id>/items")
@admin.admin_page
def add_item(user, campaign_id):
    form = AddItemForm()
    try:
        if not form.validate():
            return _campaign_page(campaign_id, add=form, status=422)
        item = campaigns.add_item(campaign_id, user, product_id=form.product_id.data, **form.terms())
    except AppError as error:
        if error.code == CampaignErrorCode.CAMPAIGN_NOT_FOUND:
            return _refused(error)
        show_refusal(form, error)
        return _campaign_page(campaign_id, add=form, status=error.status)
    flash(_("“%(title)s” is in the campaign.", title=item.product.title), "notice")
    return redirect(url_for(".campaign", campaign_id=campaign_id))


@bp.post("/items/<id:item_id>/terms")
@admin.admin_page
def change_terms(user, item_id):
    """A listing's campaign price (before the campaign opens), units for the campaign and limit per buyer."""
    form = ItemTermsForm()
    try:
        campaign_id = campaigns.get_item(item_id).campaign_id
        if not form.validate():
            return _campaign_page(campaign_id, terms=(item_id, form), status=422)
        item = campaigns.update_item(item_id, user, **form.terms())
    except AppError as error:
        if error.code == CampaignErrorCode.CAMPAIGN_ITEM_NOT_FOUND:
            return _refused(error)
        show_refusal(form, error)
        return _campaign_page(campaign_id, terms=(item_id, form), status=error.status)
    flash(_("New terms saved for “%(title)s”.", title=item.product.title), "notice")
    return redirect(url_for(".campaign", campaign_id=item.campaign_id))


@bp.post("/items/<id:item_id>/approve")
@admin.admin_page
def approve(user, item_id):
    return _decide(item_id, campaigns.approve_item, user, message=_("Approved: “%(title)s” is in the campaign."))


@bp.post("/items/<id:item_id>/remove")
@admin.admin_page
def remove(user, item_id):
    return _decide(item_id, campaigns.remove_item, user, message=_("“%(title)s” was taken out of the campaign."))


def _decide(item_id: int, act, user, *, message: str, reason: str | None = None):
    """Approve, reject or remove an item, then back to its campaign's page saying what happened."""
    if not ButtonOnlyForm().validate():
        return error_page(400, _("This form has expired. Go back, reload the page and try again."))
    try:
        item = act(item_id, user, *([reason] if reason is not None else []))
    except AppError as error:  # decided meanwhile, or a proposal that no longer fits its listing
        return _refused(error)
    flash(message % {"title": item.product.title}, "notice")
    return redirect(url_for(".campaign", campaign_id=item.campaign_id))


@bp.post("/items/<id:item_id>/reject")
@admin.admin_page
def reject(user, item_id):
    form = ItemRejectForm()
    if not form.validate():
        return error_page(422, " ".join(form.reason.errors) or _("Give a reason."))
    return _decide(item_id, campaigns.reject_item, user, reason=form.reason.data.strip(),
                   message=_("Rejected: “%(title)s”. The seller sees your reason."))


@bp.post("/<id:campaign_id>/cancel")
@admin.admin_page
def cancel(user, campaign_id):
    if not ButtonOnlyForm().validate():
        return error_page(400, _("This form has expired. Go back, reload the page and try again."))
    try:
        campaign = campaigns.cancel_campaign(campaign_id, user)
    except AppError as error:
        return _refused(error)
    flash(_("Campaign “%(name)s” cancelled: its listings are back at their own prices.", name=campaign.name_zh), "notice")
    return redirect(url_for(".campaign", campaign_id=campaign_id))
