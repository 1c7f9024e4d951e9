"""A many-machine deployment on one machine (scripts/cluster) and the test that proves it."""
