"""The error codes the cross-domain flows raise themselves (the domains they call raise their own)."""
import enum


class FlowErrorCode(enum.StrEnum):
    # A desk button naming an action the desk does not have.
    UNKNOWN_ACTION = "unknown_action"
    # A trace page's token names no listing on sale (or once on sale) and no order line.
    TRACE_NOT_FOUND = "trace_not_found"
