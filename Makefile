# glmq: `make run` serves, `make test` tests. Both install what they need first.
#
#   MODEL=path/to/model.gguf   model for `make run` (default: a generated test model)
#   PORT=8080 HOST=127.0.0.1   where `make run` listens
#   GGML_CUDA=ON               build llama.cpp and glmq with CUDA (nvcc; in build-cuda/,
#                              apart from the CPU build)
#   CUDA_ARCH=90               GPU architectures for GGML_CUDA=ON: 90 Hopper, 89 Ada, 86/80 Ampere
#   GLMQ_CACHE=~/.cache/glmq   where the pinned llama.cpp build is kept

BUILD ?= $(if $(filter ON,$(GGML_CUDA)),build-cuda,build)
BUILD_TYPE ?= RelWithDebInfo
PORT ?= 8080
HOST ?= 127.0.0.1
DATA_DIR ?= data
GGML_CUDA ?= OFF
CUDA_ARCH ?= 90
JOBS ?= $(shell nproc)
TEST_MODEL := $(BUILD)/test-model.gguf
MODEL ?= $(TEST_MODEL)

.PHONY: all deps llama build run test bench format clean fuzz sanitize

all: build

deps:
	@scripts/install-deps.sh

llama: deps
	@GGML_CUDA=$(GGML_CUDA) CUDA_ARCH=$(CUDA_ARCH) scripts/build-llama.sh >/dev/null

build: llama
	@prefix=$$(GGML_CUDA=$(GGML_CUDA) CUDA_ARCH=$(CUDA_ARCH) scripts/build-llama.sh) && \
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DLLAMA_PREFIX=$$prefix -DGLMQ_CUDA=$(GGML_CUDA) >/dev/null && \
	cmake --build $(BUILD) -j $(JOBS)

$(TEST_MODEL): build
	@[ -f $@ ] || $(BUILD)/glmq make-test-model --out $@

run: build $(if $(filter $(TEST_MODEL),$(MODEL)),$(TEST_MODEL))
	$(BUILD)/glmq serve --model $(MODEL) --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: build
	bench/run.sh

# libFuzzer targets (clang): the HTTP request parser, the JSON body parsers, and uploads
# (multipart bodies, batch input lines) with gateways' peer notes, 10^5 inputs each from the
# seeds in tests/fuzz/corpus.
fuzz: llama
	@prefix=$$(scripts/build-llama.sh) && \
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
	  -DCMAKE_CXX_COMPILER=clang++ -DGLMQ_FUZZ=ON -DLLAMA_PREFIX=$$prefix >/dev/null && \
	cmake --build build-fuzz -j $(JOBS) --target http_request_fuzz job_request_fuzz upload_fuzz
	@mkdir -p build-fuzz/corpus/http build-fuzz/corpus/job build-fuzz/corpus/upload
	build-fuzz/http_request_fuzz -runs=100000 -max_len=4096 build-fuzz/corpus/http tests/fuzz/corpus/http
	build-fuzz/job_request_fuzz -runs=100000 build-fuzz/corpus/job tests/fuzz/corpus/job
	build-fuzz/upload_fuzz -runs=100000 build-fuzz/corpus/upload tests/fuzz/corpus/upload

# The unit and integration tests built with AddressSanitizer and UndefinedBehaviorSanitizer
# (llama.cpp itself is not instrumented). Leak reports are off: llama.cpp's and ggml's
# process-lifetime allocations would drown ours.
sanitize: llama
	@prefix=$$(scripts/build-llama.sh) && \
	cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGLMQ_SANITIZE=ON \
	  -DLLAMA_PREFIX=$$prefix >/dev/null && \
	cmake --build build-sanitize -j $(JOBS)
	cd build-sanitize && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 1200

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) build-fuzz build-sanitize
