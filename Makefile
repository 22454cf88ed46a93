# swift-nmt developer tasks. Each target installs missing system packages first.
#   make deps    install missing apt packages (OpenBLAS, LAPACKE)
#   make build   release build of the library, examples and benchmarks
#   make test    the test suite (what CI runs): Scripts/ci/test.sh
#   make demo    the main job: Scripts/experiments/main-job.sh
#   make bench   kernel and model benchmarks, JSON lines on standard output
#   make bench-compare  training steps side by side with PyTorch eager (Scripts/benchmarks/bench-compare.sh)
#   make sanitize  the test suite under AddressSanitizer (leaks on) and ThreadSanitizer
#   make fuzz    each libFuzzer target of Fuzz/ for 2 minutes (Scripts/robustness/fuzz.sh)
#   make faults  kill-and-resume and full-disk fault injection (Scripts/robustness/fault-injection.sh)
#   make docs    DocC API reference of every module, combined, into .build/docs (no warnings allowed)

# Parallel text for the data benchmark (train.en, train.de).
DING ?= ../shared/data/ding

.PHONY: deps build test demo bench bench-compare docs sanitize faults fuzz clean

deps:
	@Scripts/ci/install-deps.sh

build: deps
	swift build -c release

test:
	Scripts/ci/test.sh

demo:
	Scripts/experiments/main-job.sh

bench: deps
	swift run -c release nmt-bench-tensor
	swift run -c release nmt-bench-model
	@if [ -f $(DING)/train.en ]; then \
		swift run -c release nmt-bench-data --train-en $(DING)/train.en --train-de $(DING)/train.de; \
	else echo "nmt-bench-data skipped: no $(DING)/train.en (set DING=DIR, e.g. from nmt-prepare ding)"; fi

bench-compare: deps
	Scripts/benchmarks/bench-compare.sh

DOC_TARGETS = NMT NMTTensor NMTLayers NMTTransformer NMTData NMTAccelerator NMTSchedule NMTInterop NMTDistributed NMTServer

docs: deps
	swift package --allow-writing-to-directory .build/docs generate-documentation \
		--enable-experimental-combined-documentation $(addprefix --target ,$(DOC_TARGETS)) \
		--warnings-as-errors --output-path .build/docs

# Separate build folders, so the sanitized builds do not replace the normal one.
sanitize: deps
	LSAN_OPTIONS=suppressions=$(CURDIR)/lsan.supp swift test --disable-swift-testing --sanitize=address --build-path .build-asan
	swift test --disable-swift-testing --sanitize=thread --build-path .build-tsan

fuzz: deps
	Scripts/robustness/fuzz.sh 120

faults: deps
	Scripts/robustness/fault-injection.sh 20

clean:
	rm -rf .build
