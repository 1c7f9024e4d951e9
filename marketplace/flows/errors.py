"""The error codes the cross-domain flows raise themselves (the domains they call raise their own)."""
import enum


class FlowErrorCode(enum.StrEnum):
    # A desk button naming an action the desk does not have.
    UNKNOWN_ACTION = "unknown_action"
