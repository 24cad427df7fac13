"""Notifications: tells clients and other systems what happened."""
