"""Read-side SQL for GET endpoints."""
