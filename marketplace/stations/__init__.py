"""Village service stations run by partners."""
