# The spp server image: python slim plus the spp_runtime package. docker-compose.yml runs one
# container per party: `spp server --party N --config /etc/spp/cluster.toml`.
# Build: docker build -t spp-runtime:0.1.0 .   (keys and data are mounted, never baked in)
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/spp
COPY pyproject.toml README.md ./
COPY spp_runtime ./spp_runtime
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/spp --shell /usr/sbin/nologin spp \
    && mkdir -p /var/lib/spp/data /etc/spp \
    && chown -R spp /var/lib/spp

USER spp
VOLUME ["/var/lib/spp/data"]
EXPOSE 47310 47311 47312
CMD ["spp", "--help"]
