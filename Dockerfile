# esp-careplans: slim image, non-root, migrations then the server with ESP_WORKERS workers.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ESP_HOST=0.0.0.0 \
    ESP_PORT=8080 \
    ESP_WORKERS=2 \
    ESP_ENV=production \
    ESP_PROFILES_DIR=/srv/esp/fhir_profiles
RUN groupadd --system esp && useradd --system --gid esp --home /srv/esp --create-home esp
COPY --from=build /install /usr/local
WORKDIR /srv/esp
COPY --chown=esp:esp alembic.ini ./
COPY --chown=esp:esp migrations ./migrations
COPY --chown=esp:esp fhir_profiles ./fhir_profiles
USER esp
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"ESP_PORT\"]}/readyz', timeout=2)"
# Migrations first (idempotent), then the server; uvicorn handles SIGTERM gracefully.
CMD ["sh", "-c", "esp-careplans db upgrade && exec esp-careplans serve"]
