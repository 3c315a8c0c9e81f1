# The two commands of the README: `make demo` and `make test`. Each installs what is missing first.
FUZZ_SECONDS ?= 60
CHAOS_SECONDS ?= 60

.PHONY: setup demo tours test unit-test vectors check-imports fuzz chaos bench

setup:
	@scripts/setup

# The flagship: LogPipeline run by mpctl (live view on a terminal), then its tally checked.
demo: setup
	@swift build -c release --product mpctl >/dev/null
	@swift build -c release --product LogPipelineStages >/dev/null
	@PATH="$(CURDIR)/.build/release:$$PATH" .build/release/mpctl run Examples/LogPipeline/pipeline.yaml
	@.build/release/LogPipelineStages summarize Examples/LogPipeline/out/tallies.txt 200

# The two tours: the wire format (CodecTour), then processes (ProcessTour).
tours: setup
	@swift build -c release --product CodecTour >/dev/null
	@swift build -c release --product ProcessTour >/dev/null
	@.build/release/CodecTour
	@echo
	@.build/release/ProcessTour

unit-test: setup
	swift build --build-tests
	swift test --skip-build --no-parallel

vectors: setup
	python3 Protocols/check_vectors.py

# The folders of Sources/Multiprocessing import in one direction (docs/ARCHITECTURE.md).
check-imports:
	python3 scripts/check-imports

fuzz: setup
	Fuzz/run $(FUZZ_SECONDS)

# Workers killed at random under a mixed load, then the checks (Benchmarks/README.md, "Chaos").
chaos: setup
	Benchmarks/chaos --seconds $(CHAOS_SECONDS) --json .build/chaos.json

test: setup check-imports vectors fuzz unit-test chaos

bench: setup
	Benchmarks/run
