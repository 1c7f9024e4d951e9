"""The error codes of the reports and their review, as clients see them."""
import enum


class ReportErrorCode(enum.StrEnum):
    INVALID_PERIOD = "invalid_period"
    NO_REPORT_SCOPE = "no_report_scope"
    OUT_OF_SCOPE = "out_of_scope"
    SALE_NOT_FOUND = "sale_not_found"
    ALREADY_EXCLUDED = "already_excluded"
    NOT_EXCLUDED = "not_excluded"
