# The README's two commands: `make run` and `make test`. Both set up what is missing first.
.PHONY: setup run demo test unit down

setup:
	@bash deploy/setup.sh

# Kafka up, worker + Explorer (embedded chDB store) in one process, simulated traffic
run: setup
	.venv/bin/inboxtrail run

# the ClickHouse-server path: services up, a background worker, one email and its timeline
demo: setup
	.venv/bin/inboxtrail demo

# pytest exit code 5 means "no tests collected": that is a failure, not a pass.
test: setup
	@.venv/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests - failing" >&2; exit 1; fi; exit $$rc

unit: setup
	.venv/bin/python -m pytest tests/unit -q

down:
	.venv/bin/inboxtrail down
