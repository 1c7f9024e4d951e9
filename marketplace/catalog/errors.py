"""The error codes of listings, their stock and their photos, as clients see them."""
import enum


class CatalogErrorCode(enum.StrEnum):
    PRODUCT_NOT_FOUND = "product_not_found"
    NOT_OWNER = "not_owner"
    NOT_A_DRAFT = "not_a_draft"
    ILLEGAL_STATUS_CHANGE = "illegal_status_change"
    STALE_VERSION = "stale_version"
    WEIGHT_CONTRADICTS_UNIT = "weight_contradicts_unit"
    NET_WEIGHT_REQUIRED = "net_weight_required"
    VILLAGE_NOT_IN_COUNTY = "village_not_in_county"
    STOCK_OUT_OF_RANGE = "stock_out_of_range"
    PRICE_NOT_ABOVE_CAMPAIGN = "price_not_above_campaign"
    TOO_MANY_IMAGES = "too_many_images"
    IMAGE_NOT_FOUND = "image_not_found"
    IMAGE_REJECTED = "image_rejected"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_TOO_MANY_PIXELS = "image_too_many_pixels"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_IMAGE_TYPE = "unsupported_image_type"
    INVALID_CURSOR = "invalid_cursor"
