# Shared fixtures for every test suite in the workspace (root, libs/*, services/*).
pytest_plugins = ["servicekit.testing"]
