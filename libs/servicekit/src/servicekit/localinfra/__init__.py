"""Local infrastructure shared by `make run` and the pytest fixtures (one implementation)."""
