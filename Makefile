.PHONY: run test unit lint format simulate bench soak rollback-dry-run

run:
	scripts/run

test:
	scripts/test

unit:
	scripts/test tests/unit tests/stress

lint:
	scripts/bootstrap.sh --test
	.venv/bin/ruff check ftproxy bench tests
	.venv/bin/ruff format --check ftproxy bench tests
	.venv/bin/lint-imports --no-cache

format:
	.venv/bin/ruff format ftproxy bench tests
	.venv/bin/ruff check --fix ftproxy bench tests

simulate:
	scripts/bootstrap.sh
	.venv/bin/ftproxy simulate --port 8090

bench:
	scripts/benchmark_free_threading.sh --quick

soak:
	scripts/soak.sh

rollback-dry-run:
	scripts/emergency_rollback.sh --dry-run
