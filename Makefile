# The two commands of the README, and a few shortcuts around them.
.PHONY: run test screenshots tour lint install bench-catalog bench-checkout bench-webhook bench-reports bench-storefront

run:            ## set up and run the service with demo data on http://127.0.0.1:8000
	scripts/run-dev

test:           ## the linters, then the whole suite on the local PostgreSQL server
	scripts/test

screenshots:    ## the browser tests, refreshing the README's screenshots in docs/screenshots (make test never writes there)
	REFRESH_README_SCREENSHOTS=1 scripts/test tests/browser

tour:           ## the README's API tour, step by step, against the server of `make run` (scripts/tour)
	scripts/tour

lint:           ## ruff and the import-linter contracts (.importlinter) only
	scripts/bootstrap requirements-dev.txt
	.venv/bin/ruff check .
	.venv/bin/lint-imports

install:        ## create .venv with the test dependencies
	scripts/bootstrap requirements-dev.txt

bench-catalog:  ## catalog list/detail HTTP benchmark on PostgreSQL (bench/README.md); BENCH_ARGS="--duration 5"
	scripts/bootstrap requirements.txt
	.venv/bin/python bench/catalog.py $(BENCH_ARGS)

bench-checkout: ## steady checkout and flash-sale HTTP benchmark on PostgreSQL (bench/README.md); BENCH_ARGS="--duration 5"
	scripts/bootstrap requirements.txt
	.venv/bin/python bench/checkout.py $(BENCH_ARGS)

bench-webhook:  ## Stripe webhook HTTP benchmark (events applied, duplicates) on PostgreSQL (bench/README.md); BENCH_ARGS="--duration 5"
	scripts/bootstrap requirements.txt
	.venv/bin/python bench/webhook.py $(BENCH_ARGS)

bench-reports:  ## reports at 10k and 10M ledger rows, and the rollup lag in a flash sale, on PostgreSQL (bench/README.md); BENCH_ARGS="--keep-db"
	scripts/bootstrap requirements.txt
	scripts/ensure-redis
	.venv/bin/python bench/reports.py $(BENCH_ARGS)

bench-storefront: ## home and product pages against a bare Flask app, with revalidations (bench/README.md); BENCH_ARGS="--duration 5"
	scripts/bootstrap requirements.txt
	.venv/bin/python bench/storefront.py $(BENCH_ARGS)

.PHONY: cluster
cluster:        ## many machines on one: HAProxy, two app nodes, two job workers, localstripe, S3 (README); CMD=status|stop
	scripts/cluster $(or $(CMD),start)
