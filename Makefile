# The targets a contributor needs. `make test` is what CI runs.
GO ?= go
FUZZTIME ?= 20s
BENCHTIME ?= 1s

.PHONY: test test-short bench bench-packages lint staticcheck-version api cover fuzz demo

test:
	$(GO) test -race -count=1 ./...

test-short:
	$(GO) test -short -count=1 ./...

# One side-by-side table with ratios, from one run (see BENCHMARKS.md).
bench:
	$(GO) run ./scripts/benchtable -benchtime $(BENCHTIME)

# Every package's own benchmarks.
bench-packages:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# staticcheck runs when installed (go install
# honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)); under CI=true it
# must be.
STATICCHECK_VERSION = v0.8.2

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@sc=$$(command -v staticcheck || echo "$$($(GO) env GOPATH)/bin/staticcheck"); \
	if [ -x "$$sc" ]; then echo "$$sc ./..."; "$$sc" ./...; \
	elif [ "$$CI" = true ]; then echo "CI=true but staticcheck is not installed"; exit 1; \
	else echo "staticcheck is not installed: skipped (go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION))"; fi

staticcheck-version:
	@echo $(STATICCHECK_VERSION)

# The exported names of each package (see scripts/apicount).
api:
	@for d in $$($(GO) list -f '{{if not (eq .Name "main")}}{{.Dir}}{{end}}' ./...); do $(GO) run ./scripts/apicount -q $$d; done

cover:
	$(GO) test -count=1 -coverprofile=cover.out ./...
	$(GO) tool cover -func=cover.out | tail -n 1

# Runs every fuzz target for FUZZTIME each (see scripts/fuzz.sh for how it
# tells Go 1.26's fuzz deadline race from a finding).
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

demo:
	$(GO) run ./cmd/throttlecache demo
