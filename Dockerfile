# The Mandate worker image. Used by docker-compose.yml for both the one-shot
# `mandate setup` step and the long-running `mandate worker`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The whole repository (see .dockerignore), installed without the dev extra.
COPY . /app
RUN pip install . \
    && rm -rf /app/build /app/*.egg-info

# Run as an unprivileged user. /data is created and owned by that user before
# it is declared a volume, so a fresh named volume inherits the ownership.
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin mandate \
    && mkdir -p /data \
    && chown mandate:mandate /data

ENV MANDATE_HOME=/data \
    MANDATE_CHARTERS=/app/charters

VOLUME ["/data"]
USER mandate

# Connection settings come from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE /
# TEMPORAL_API_KEY / TEMPORAL_TLS (read by temporalio.envconfig).
CMD ["mandate", "worker"]
