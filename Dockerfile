# The API service, built from the same pyproject as `make install`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    INSTRUCTFORGE_HOST=0.0.0.0 \
    INSTRUCTFORGE_PORT=8000 \
    INSTRUCTFORGE_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY generators ./generators
COPY store ./store
COPY trainer ./trainer
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 1000 instructforge \
    && mkdir -p /data && chown instructforge /data

USER instructforge
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["instructforge", "serve"]
