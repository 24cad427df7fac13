"""Time capture: where billable work enters Billstream."""
