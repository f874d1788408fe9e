# ferry: build, test and benchmark. `make test` is what CI runs (.ci/run).

GO ?= go
# The commit `ferry version` prints when Go's build info records none (a
# build with -buildvcs=false, from GOFLAGS or the command); empty without git.
COMMIT := $(shell git describe --always --dirty 2>/dev/null)
LDFLAGS := -X main.commit=$(COMMIT)

.PHONY: build test bench bench-quick bench-full profile clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ferry ./cmd/ferry
	$(GO) build -o bin/ferry-bench ./cmd/ferry-bench

test:
	@unformatted="$$(gofmt -l .)"; if test -n "$$unformatted"; then \
		echo "gofmt -l: these files need gofmt:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -race -count=1 -timeout 15m ./relay/... ./variants/...

# Every engine through real ferry processes beside the no-relay ceiling;
# results.json, README.md and charts land in a new results/DATE-HOST/.
# docs/methodology.md lists what each preset runs and how long it takes.
bench: build
	./bin/ferry-bench -ferry bin/ferry -preset default -out results

bench-quick: build
	./bin/ferry-bench -ferry bin/ferry -preset quick -out bin/bench-quick

bench-full: build
	./bin/ferry-bench -ferry bin/ferry -preset full -out results

# Separate profiling runs (never the timed ones): CPU and heap profiles of
# the ferry server and client per engine for bulk, rr and churn, drawn as flame
# graphs in docs/flamegraphs/ (docs/analysis.md reads them).
profile: build
	rm -rf docs/flamegraphs/profiles
	./bin/ferry-bench -ferry bin/ferry -profile docs/flamegraphs/profiles -topologies tunnel \
		-workloads bulk-1,rr-c1,churn -repeats 1 -duration 5s -q > /dev/null
	./bin/ferry-bench -flamegraphs docs/flamegraphs

clean:
	rm -rf bin
