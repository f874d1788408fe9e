# ferry: build, test and benchmark. `make test` is what CI runs (.ci/run).

GO ?= go

.PHONY: build test bench clean

build:
	$(GO) build -o bin/ferry ./cmd/ferry
	$(GO) build -o bin/ferry-bench ./cmd/ferry-bench

test:
	@unformatted="$$(gofmt -l .)"; if test -n "$$unformatted"; then \
		echo "gofmt -l: these files need gofmt:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -race -count=1 -timeout 15m ./relay/... ./variants/...

# Every engine through real ferry processes; the report lands in results/.
bench: build
	./bin/ferry-bench --ferry bin/ferry --duration 3s --out results

clean:
	rm -rf bin
