# glmq: `make run` serves, `make test` tests. Both install what they need first.
#
#   MODEL=path/to/model.gguf   model for `make run` (default: a generated test model)
#   PORT=8080 HOST=127.0.0.1   where `make run` listens
#   GGML_CUDA=ON               build llama.cpp and glmq with CUDA
#   GLMQ_CACHE=~/.cache/glmq   where the pinned llama.cpp build is kept

BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
PORT ?= 8080
HOST ?= 127.0.0.1
DATA_DIR ?= data
GGML_CUDA ?= OFF
JOBS ?= $(shell nproc)
TEST_MODEL := $(BUILD)/test-model.gguf
MODEL ?= $(TEST_MODEL)

.PHONY: all deps llama build run test bench format clean

all: build

deps:
	@scripts/install-deps.sh

llama: deps
	@GGML_CUDA=$(GGML_CUDA) scripts/build-llama.sh >/dev/null

build: llama
	@prefix=$$(GGML_CUDA=$(GGML_CUDA) scripts/build-llama.sh) && \
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

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
