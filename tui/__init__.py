"""batchtop package."""
