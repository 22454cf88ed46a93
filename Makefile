# swift-nmt developer tasks. Each target installs missing system packages first.
#   make deps    install missing apt packages (OpenBLAS, LAPACKE)
#   make build   release build of the library, examples and benchmarks
#   make test    the test suite (what CI runs): Scripts/test.sh
#   make demo    the main job: Scripts/main-job.sh
#   make bench   kernel and model benchmarks, JSON lines on standard output

.PHONY: deps build test demo bench clean

deps:
	@Scripts/install-deps.sh

build: deps
	swift build -c release

test:
	Scripts/test.sh

demo:
	Scripts/main-job.sh

bench: deps
	swift run -c release nmt-bench-tensor
	swift run -c release nmt-bench-model
	swift run -c release nmt-bench-data --train-en ../shared/data/ding/train.en --train-de ../shared/data/ding/train.de

clean:
	rm -rf .build
