"""The error codes of the county registry and villages, as clients see them."""
import enum


class GeoErrorCode(enum.StrEnum):
    PROVINCE_NOT_FOUND = "province_not_found"
    UNKNOWN_PROVINCE = "unknown_province"
    COUNTY_NOT_FOUND = "county_not_found"
    VILLAGE_NOT_FOUND = "village_not_found"
    VILLAGE_EXISTS = "village_exists"
    UNKNOWN_LIST_KIND = "unknown_list_kind"
    UNREADABLE_CSV = "unreadable_csv"
    IMPORT_HAS_BAD_ROWS = "import_has_bad_rows"
