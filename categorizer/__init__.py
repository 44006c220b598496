"""categorizer package."""
