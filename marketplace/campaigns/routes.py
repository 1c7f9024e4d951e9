"""Campaign endpoints: the public's campaigns, administrators' campaigns and items, sellers' proposals."""
from flask import jsonify
from flask.views import MethodView

from marketplace.accounts.auth import current_user, requires
from marketplace.campaigns import services
from marketplace.campaigns.errors import CampaignErrorCode
from marketplace.campaigns.schemas import (
    CampaignIn,
    CampaignItemIn,
    CampaignItemOut,
    CampaignItemPageOut,
    CampaignItemUpdateIn,
    CampaignListArgs,
    CampaignOut,
    CampaignPageOut,
    CampaignUpdateIn,
    ItemListArgs,
    ProposalListArgs,
    PublicCampaignOut,
    RejectIn,
)
from marketplace.catalog.errors import CatalogErrorCode
from marketplace.errors import ErrorOut
from marketplace.extensions import Blueprint

bp = Blueprint("campaigns", __name__, url_prefix="/api/v1",
               description="Campaigns: timed sales with campaign prices, stock caps and per-buyer limits")

ITEM_REFUSALS = ("campaign_price_not_below_listing, stock_cap_above_stock, not_poverty_county, or a field out of "
                 "range (validation_error)")
NO_CAMPAIGN = f"{CampaignErrorCode.CAMPAIGN_NOT_FOUND}: no campaign with this id"
NO_CAMPAIGN_OR_PRODUCT = f"{CampaignErrorCode.CAMPAIGN_NOT_FOUND}, {CatalogErrorCode.PRODUCT_NOT_FOUND}"
NO_ITEM = "campaign_item_not_found: no campaign item with this id"
NOT_PENDING = "item_not_pending: the item is no longer pending"
BAD_WINDOW = "campaign_window_invalid: it ends before or when it starts"
ITEM_CONFLICTS = "listing_in_other_campaign, listing_not_for_sale, campaign_closed (cancelled or over)"


@bp.route("/campaigns")
class Campaigns(MethodView):
    @bp.response(200, PublicCampaignOut(many=True))
    def get(self):
        """Campaigns on now and to come, each with its listings at the price that applies now"""
        # The listings are the catalog's read side's dicts, already in ProductSummaryOut's shape.
        campaign_out = CampaignOut()
        return jsonify([{**entry, "campaign": campaign_out.dump(entry["campaign"])}
                        for entry in services.public_campaigns()])

    @requires("admin")
    @bp.arguments(CampaignIn())
    @bp.response(201, CampaignOut)
    @bp.alt_response(422, schema=ErrorOut, description="campaign_window_invalid: it ends before or when it starts")
    def post(self, fields):
        """Create a campaign; its window is given in Asia/Shanghai time (administrators)"""
        return services.create_campaign(current_user(), **fields)


@bp.route("/admin/campaigns")
class AllCampaigns(MethodView):
    @requires("admin")
    @bp.arguments(CampaignListArgs(), location="query")
    @bp.response(200, CampaignPageOut)
    def get(self, args):
        """Every campaign, past and cancelled ones too, the latest start first (administrators)"""
        return services.list_campaigns(**args)


@bp.route("/campaigns/<id:campaign_id>")
class CampaignDetail(MethodView):
    @requires("admin")
    @bp.response(200, CampaignOut)
    @bp.alt_response(404, schema=ErrorOut, description=NO_CAMPAIGN)
    def get(self, campaign_id):
        """One campaign (administrators)"""
        return services.get_campaign(campaign_id)

    @requires("admin")
    @bp.arguments(CampaignUpdateIn())
    @bp.response(200, CampaignOut)
    @bp.alt_response(404, schema=ErrorOut, description=NO_CAMPAIGN)
    @bp.alt_response(409, schema=ErrorOut, description="campaign_already_started (its start cannot move), "
                     "campaign_closed, listing_in_other_campaign (the new window overlaps one of its listings' other)")
    @bp.alt_response(422, schema=ErrorOut, description=BAD_WINDOW)
    def patch(self, fields, campaign_id):
        """Rename a campaign or move its window (administrators)"""
        return services.update_campaign(campaign_id, current_user(), **fields)


@bp.route("/campaigns/<id:campaign_id>/cancel")
class CampaignCancel(MethodView):
    @requires("admin")
    @bp.response(200, CampaignOut)
    @bp.alt_response(404, schema=ErrorOut, description=NO_CAMPAIGN)
    def post(self, campaign_id):
        """Cancel a campaign: its listings leave it at once; orders placed keep their price (administrators)"""
        return services.cancel_campaign(campaign_id, current_user())


@bp.route("/campaigns/<id:campaign_id>/items")
class CampaignItems(MethodView):
    @requires("admin")
    @bp.arguments(ItemListArgs(), location="query")
    @bp.response(200, CampaignItemOut(many=True))
    @bp.alt_response(404, schema=ErrorOut, description=NO_CAMPAIGN)
    def get(self, args, campaign_id):
        """A campaign's items, proposals included (administrators)"""
        return services.list_items(campaign_id, **args)

    @requires("admin")
    @bp.arguments(CampaignItemIn())
    @bp.response(201, CampaignItemOut)
    @bp.alt_response(404, schema=ErrorOut, description=NO_CAMPAIGN_OR_PRODUCT)
    @bp.alt_response(409, schema=ErrorOut, description=ITEM_CONFLICTS)
    @bp.alt_response(422, schema=ErrorOut, description=ITEM_REFUSALS)
    def post(self, fields, campaign_id):
        """Put a listing in a campaign, approved (administrators)"""
        return services.add_item(campaign_id, current_user(), **fields)


@bp.route("/campaigns/<id:campaign_id>/proposals")
class CampaignProposals(MethodView):
    @requires("seller", "partner")
    @bp.arguments(CampaignItemIn())
    @bp.response(201, CampaignItemOut)
    @bp.alt_response(403, schema=ErrorOut, description="not_listing_owner: another seller's listing")
    @bp.alt_response(404, schema=ErrorOut, description=NO_CAMPAIGN_OR_PRODUCT)
    @bp.alt_response(409, schema=ErrorOut, description=ITEM_CONFLICTS)
    @bp.alt_response(422, schema=ErrorOut, description=ITEM_REFUSALS)
    def post(self, fields, campaign_id):
        """Propose one's own listing for a campaign; an administrator decides (sellers, partners for villagers)"""
        return services.propose_item(campaign_id, current_user(), **fields)


@bp.route("/campaign-items/<id:item_id>")
class ItemDetail(MethodView):
    @requires("admin")
    @bp.arguments(CampaignItemUpdateIn())
    @bp.response(200, CampaignItemOut)
    @bp.alt_response(404, schema=ErrorOut, description=NO_ITEM)
    @bp.alt_response(409, schema=ErrorOut, description="item_not_pending (not pending or approved), campaign_closed, "
                     "campaign_already_started (its price cannot change)")
    @bp.alt_response(422, schema=ErrorOut, description="campaign_price_not_below_listing, stock_cap_below_sold, "
                     "stock_cap_above_stock (more than sold and the listing's stock left)")
    def patch(self, fields, item_id):
        """Change an item's campaign price (before its campaign starts), stock cap or per-buyer limit (administrators)"""
        return services.update_item(item_id, current_user(), **fields)


@bp.route("/campaign-items/<id:item_id>/approve")
class ItemApprove(MethodView):
    @requires("admin")
    @bp.response(200, CampaignItemOut)
    @bp.alt_response(404, schema=ErrorOut, description=NO_ITEM)
    @bp.alt_response(409, schema=ErrorOut, description=f"item_not_pending, {ITEM_CONFLICTS}")
    @bp.alt_response(422, schema=ErrorOut, description="campaign_price_not_below_listing, stock_cap_above_stock "
                     "(the listing changed since the proposal), not_poverty_county")
    def post(self, item_id):
        """Approve a seller's proposal (administrators)"""
        return services.approve_item(item_id, current_user())


@bp.route("/campaign-items/<id:item_id>/reject")
class ItemReject(MethodView):
    @requires("admin")
    @bp.arguments(RejectIn())
    @bp.response(200, CampaignItemOut)
    @bp.alt_response(404, schema=ErrorOut, description=NO_ITEM)
    @bp.alt_response(409, schema=ErrorOut, description=NOT_PENDING)
    def post(self, fields, item_id):
        """Reject a seller's proposal with a reason (administrators)"""
        return services.reject_item(item_id, current_user(), fields["reason"])


@bp.route("/campaign-items/<id:item_id>/remove")
class ItemRemove(MethodView):
    @requires("admin")
    @bp.response(200, CampaignItemOut)
    @bp.alt_response(404, schema=ErrorOut, description=NO_ITEM)
    @bp.alt_response(409, schema=ErrorOut, description="item_not_pending: it is not pending or approved")
    def post(self, item_id):
        """Take a listing out of its campaign; units sold stay sold (administrators)"""
        return services.remove_item(item_id, current_user())


@bp.route("/campaign-items/<id:item_id>/withdraw")
class ItemWithdraw(MethodView):
    @requires("seller", "partner")
    @bp.response(200, CampaignItemOut)
    @bp.alt_response(404, schema=ErrorOut, description="campaign_item_not_found (or not one's own)")
    @bp.alt_response(409, schema=ErrorOut, description=NOT_PENDING)
    def post(self, item_id):
        """Withdraw one's own pending proposal (sellers, partners for villagers)"""
        return services.withdraw_item(item_id, current_user())


@bp.route("/seller/campaign-items")
class OwnProposals(MethodView):
    @requires("seller", "partner")
    @bp.arguments(ProposalListArgs(), location="query")
    @bp.response(200, CampaignItemPageOut)
    def get(self, args):
        """The caller's listings' campaign items and proposals, newest first (sellers, partners for villagers)"""
        return services.list_own_proposals(current_user(), **args)
