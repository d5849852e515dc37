# The Basketlift worker image (used by docker-compose.kafka.yml and deploy/k8s/).
#   docker build -t basketlift:0.1.0 .
# Not built in CI: the project's CI machines have no Docker engine.
#
# The web server binds every interface (BASKETLIFT_WEB_HOST=0.0.0.0), so the worker needs an
# API token, or it refuses to start: /state/... and /offers/... then answer only requests
# with `Authorization: Bearer <token>` (/metrics, /health and /live stay open). Pass it as
#   docker run -e BASKETLIFT_API_TOKEN="$(openssl rand -hex 32)" ... basketlift:0.1.0
# or mount a file holding it and set BASKETLIFT_API_TOKEN_FILE to its path (deploy/k8s does,
# from a Secret). No token is baked into the image.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BASKETLIFT_WEB_HOST=0.0.0.0 \
    BASKETLIFT_DATA_DIR=/var/lib/basketlift
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY streams ./streams
RUN pip install . && useradd --system --home /var/lib/basketlift basketlift \
    && mkdir -p /var/lib/basketlift && chown basketlift /var/lib/basketlift
USER basketlift
EXPOSE 6066
CMD ["basketlift", "worker"]
