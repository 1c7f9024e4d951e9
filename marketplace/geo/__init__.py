"""Provinces, counties (GB/T 2260 codes, poverty and demonstration flags) and villages."""
