"""Billstream service kit: what every service shares, so its own code is only its domain."""
