.PHONY: run test unit lint format simulate

run:
	scripts/run

test:
	scripts/test

unit:
	scripts/test tests/unit tests/stress

lint:
	scripts/bootstrap.sh --test
	.venv/bin/ruff check ftproxy tests
	.venv/bin/ruff format --check ftproxy tests

format:
	.venv/bin/ruff format ftproxy tests
	.venv/bin/ruff check --fix ftproxy tests

simulate:
	scripts/bootstrap.sh
	.venv/bin/ftproxy simulate --port 8090
