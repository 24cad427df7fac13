"""The gateway: the one door into Billstream. It authenticates, routes and limits."""
