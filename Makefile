# The two commands of the README, and a few shortcuts around them.
.PHONY: run test test-sqlite install

run:            ## set up and run the service with demo data on http://127.0.0.1:8000
	scripts/run-dev

test:           ## the whole suite, on SQLite and on PostgreSQL
	scripts/test

test-sqlite:    ## quick local run on SQLite only
	scripts/bootstrap requirements-dev.txt
	.venv/bin/python -m pytest

install:        ## create .venv with the test dependencies
	scripts/bootstrap requirements-dev.txt
