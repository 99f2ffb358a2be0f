# The README's two commands: `make demo` and `make test`. Both set up what is missing first.
.PHONY: setup demo test unit down

setup:
	@bash deploy/setup.sh

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
