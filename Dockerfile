# The Mandate worker image. Used by docker-compose.yml for both the one-shot
# `mandate setup` step and the long-running `mandate worker`.
#
# The image installs the wheel built from the repository, non-editable and
# without the dev extra: the same steps tests/test_wheel.py takes in CI, so what
# ships here is what CI ran.

FROM python:3.11-slim AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . /src
RUN pip wheel --no-deps --wheel-dir /dist .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY --from=wheel /dist/ /tmp/dist/
RUN pip install /tmp/dist/mandate-*.whl \
    && rm -rf /tmp/dist

# Run as an unprivileged user. /data is created and owned by that user before
# it is declared a volume, so a fresh named volume inherits the ownership.
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin mandate \
    && mkdir -p /data /app/charters \
    && chown mandate:mandate /data

# The charters in force are the risk owner's, mounted read-only at /app/charters
# (docker-compose.yml); an image run without the mount serves none.
ENV MANDATE_HOME=/data \
    MANDATE_CHARTERS=/app/charters

WORKDIR /app
VOLUME ["/data"]
USER mandate

# Connection settings come from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE /
# TEMPORAL_API_KEY / TEMPORAL_TLS (read by temporalio.envconfig).
CMD ["mandate", "worker"]
