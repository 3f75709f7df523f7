# ARX service image: slim Python, non-root, `arx serve` as entrypoint.
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    ARX_KEYS_DIR=/var/lib/arx/keys ARX_DATABASE_URL=sqlite:////var/lib/arx/arx.db

RUN groupadd --system arx && useradd --system --gid arx --home-dir /srv/arx --shell /usr/sbin/nologin arx
WORKDIR /srv/arx
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
# Editable install keeps migrations/ beside app/, where `arx` finds it from any working directory.
RUN pip install --no-cache-dir -e . && mkdir -p /var/lib/arx/keys && chown -R arx:arx /var/lib/arx \
    && chmod 700 /var/lib/arx/keys

USER arx
VOLUME ["/var/lib/arx"]
EXPOSE 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import ssl,urllib.request; c=ssl.create_default_context(); c.check_hostname=False; c.verify_mode=ssl.CERT_NONE; urllib.request.urlopen('https://127.0.0.1:8443/health', context=c, timeout=4)" || exit 1
ENTRYPOINT ["arx"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8443"]
