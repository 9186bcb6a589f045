# migrator as an image, for the pods of `migrator fleet export` (docs/fleet-export.md):
#   docker build -t migrator:$(python -c 'import migrator; print(migrator.__version__)') .
# ENTRYPOINT is migrator itself; an exported pod runs its own `sh -c` script that ends in
# `exec migrator apply ...`, so migrator's exit code is the pod's. The image holds the
# embedded PostgreSQL too (a dependency), unused when a DSN is given, as in every pod.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
COPY plugins ./plugins
RUN pip install . && rm -rf /src

# Not root: the numeric user the exported pods run as (runAsUser 10001, fsGroup 10001
# to read the Secret of the DSNs).
RUN groupadd --gid 10001 migrator \
    && useradd --uid 10001 --gid 10001 --home-dir /home/migrator --create-home migrator
USER 10001:10001
WORKDIR /home/migrator

ENTRYPOINT ["migrator"]
CMD ["--help"]
