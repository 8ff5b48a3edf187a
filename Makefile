# Entry points; each target delegates to scripts/ (see the README).
# Extra arguments go through ARGS, e.g. make test ARGS="--filter RedisTests".
ARGS ?=

.PHONY: run test stop bench build

run:
	bash scripts/run.sh $(ARGS)
test:
	bash scripts/test.sh $(ARGS)
stop:
	bash scripts/stop.sh
bench:
	@if [ -f scripts/bench.sh ]; then bash scripts/bench.sh $(ARGS); else echo "make bench: scripts/bench.sh is not there yet"; fi
build:
	swift build $(ARGS)
