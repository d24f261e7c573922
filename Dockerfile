# Two images from one Dockerfile:
#   docker build -t access-portal .                      # web, worker, dispatcher and beat
#   docker build --target agent -t access-portal-agent . # the probe agent, for inside a VPC

# -- the probe agent: the engine and what talks to the portal, no Django ------------------------
FROM python:3.11-slim AS agent
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PORTAL_AGENT_STATE_DIR=/var/lib/access-portal-agent
WORKDIR /src
COPY pyproject.toml README.md ./
COPY endpoints endpoints
COPY portal portal
RUN pip install '.[agent]' && rm -rf /src \
 && useradd --system --home /var/lib/access-portal-agent agent \
 && mkdir -p /var/lib/access-portal-agent && chown agent /var/lib/access-portal-agent
USER agent
WORKDIR /var/lib/access-portal-agent
ENTRYPOINT ["access-portal-agent"]

# -- the portal ----------------------------------------------------------------------------------
FROM python:3.11-slim AS portal
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PORTAL_VAR_DIR=/app/var
WORKDIR /app
COPY pyproject.toml README.md ./
COPY portal portal
COPY endpoints endpoints
RUN pip install -e '.[server]' --config-settings editable_mode=compat
COPY manage.py ./
COPY templates templates
COPY static static
# Static files are collected at build time with throw-away keys (none is baked in).
RUN SECRET_KEY=build-only PORTAL_SECRET_KEYS=$(python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())") \
    python manage.py collectstatic --no-input --verbosity 0 \
 && rm -f var/secret_key var/portal_secret_keys \
 && useradd --system --home /app portal && mkdir -p var && chown -R portal var
USER portal
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
