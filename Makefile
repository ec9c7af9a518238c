# Convenience entry points; the build itself is CMake (CMakeLists.txt).
#   make demo   install dependencies, build, train examples/fashion_mlp.bp on Fashion-MNIST (JIT)
#   make test   install dependencies, build, run the whole test suite
BUILD ?= build
JOBS ?= 2
DATA ?= /usr/share/datasets/fashion-mnist

.PHONY: deps build test demo bench clean

deps:
	sh scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

demo: build
	$(BUILD)/bpc train examples/fashion_mlp.bp --data $(DATA) --epochs 5

clean:
	rm -rf $(BUILD)
