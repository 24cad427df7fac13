"""Analytics: keeps finance read models."""
