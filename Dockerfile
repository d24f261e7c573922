# Production image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PORTAL_VAR_DIR=/app/var
WORKDIR /app
COPY pyproject.toml README.md ./
COPY portal portal
COPY endpoints endpoints
RUN pip install -e . --config-settings editable_mode=compat
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
