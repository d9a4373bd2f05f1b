# syntax=docker/dockerfile:1
# sorabot: `docker build -t sorabot .` then
# `docker run -v sorabot-data:/data -p 8080:8080 --env-file .env sorabot`.

# --- builder: install the package and its dependencies into a self-contained venv
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY adapters ./adapters
RUN /opt/venv/bin/pip install .

# --- runtime: only the venv, no compilers or sources, running as a non-root user
FROM python:3.11-slim AS runtime

RUN groupadd --system --gid 10001 sorabot \
    && useradd --system --uid 10001 --gid sorabot --home-dir /data --no-create-home sorabot \
    && mkdir -p /data \
    && chown sorabot:sorabot /data

COPY --from=builder /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/sorabot.db \
    MEDIA_DIR=/data/media \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080

# The SQLite database (and downloaded media) outlive the container.
VOLUME /data
WORKDIR /data
USER sorabot
EXPOSE 8080

# No curl in the slim image: the interpreter we already ship does the request,
# straight to loopback (no ProxyHandler: an HTTP_PROXY set for the bot's outgoing
# calls must not catch it). docker-compose.yml runs the same command.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('HTTP_PORT', '8080'), timeout=4)"]

# SIGTERM (docker stop) shuts the bot down cleanly; unfinished tasks resume on start.
STOPSIGNAL SIGTERM
ENTRYPOINT ["sorabot"]
CMD ["run"]
