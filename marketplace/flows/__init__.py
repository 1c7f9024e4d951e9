"""Flows across domains (station desk, cash at a station, cancelling a paid order); no domain imports them."""
