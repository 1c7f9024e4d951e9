"""Campaigns: timed sales of listings at a campaign price, with a stock cap and a per-buyer limit."""
