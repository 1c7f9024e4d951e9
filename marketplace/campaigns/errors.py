"""The error codes of campaigns, their items and the campaign part of a sale, as clients see them."""
import enum


class CampaignErrorCode(enum.StrEnum):
    CAMPAIGN_NOT_FOUND = "campaign_not_found"
    CAMPAIGN_ITEM_NOT_FOUND = "campaign_item_not_found"
    CAMPAIGN_WINDOW_INVALID = "campaign_window_invalid"
    CAMPAIGN_ALREADY_STARTED = "campaign_already_started"
    CAMPAIGN_CLOSED = "campaign_closed"
    CAMPAIGN_PRICE_NOT_BELOW_LISTING = "campaign_price_not_below_listing"
    STOCK_CAP_ABOVE_STOCK = "stock_cap_above_stock"
    STOCK_CAP_BELOW_SOLD = "stock_cap_below_sold"
    LISTING_IN_OTHER_CAMPAIGN = "listing_in_other_campaign"
    LISTING_NOT_FOR_SALE = "listing_not_for_sale"
    NOT_LISTING_OWNER = "not_listing_owner"
    NOT_POVERTY_COUNTY = "not_poverty_county"
    ITEM_NOT_PENDING = "item_not_pending"
    # The campaign part of a checkout (409).
    CAMPAIGN_NOT_STARTED = "campaign_not_started"
    CAMPAIGN_SOLD_OUT = "campaign_sold_out"
    CAMPAIGN_LIMIT_REACHED = "campaign_limit_reached"
    CAMPAIGN_ENDED = "campaign_ended"
