"""Products, categories, units, images, review and search."""
