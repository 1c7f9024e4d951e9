"""Reports: the sales ledger, county/day rollups and report queries."""
