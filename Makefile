# ferry: build, test and benchmark. `make test` is what CI runs (.ci/run).

GO ?= go

.PHONY: build test bench bench-quick bench-full clean

build:
	$(GO) build -o bin/ferry ./cmd/ferry
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

clean:
	rm -rf bin
