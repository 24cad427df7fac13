"""Payments: records money coming in and going back out."""
