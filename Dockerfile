# syntax=docker/dockerfile:1
# One image for every todostream role; the role is the command:
#   docker run -p 8000:8000 todostream:dev dev --host 0.0.0.0       (all in one, SQLite in /app)
#   docker run -e DATABASE_URL=... -e PUBSUB_COMPONENT=/etc/todostream/pubsub.yaml \
#     -v $PWD/components/kafka.yaml:/etc/todostream/pubsub.yaml todostream:dev api --host 0.0.0.0
#   (likewise `notification`, `audit serve` and `migrate`)
# The single roles need a shared database and a Kafka or Redis component file; configuration
# is the environment (see README.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build wheels for the package and every dependency, pinned by constraints.txt. All of them
# ship binary wheels for CPython 3.11 on Linux, so no compiler is needed.
FROM ${PYTHON_IMAGE} AS wheels
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN pip wheel --constraint constraints.txt --wheel-dir /wheels .

# The runtime image: the installed package and nothing of the build.
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN groupadd --system --gid 10001 todostream \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin todostream
COPY constraints.txt /tmp/constraints.txt
# Offline install from the wheels alone: the same pins, no index, no dev extras.
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels --constraint /tmp/constraints.txt todostream \
    && rm /tmp/constraints.txt \
    && install --directory --owner 10001 --group 10001 /app
# /app is the working directory the user may write: `docker run ... dev` keeps its SQLite file
# and local token secret there (in Kubernetes the root filesystem is read-only and unused).
WORKDIR /app
USER 10001:10001
EXPOSE 8000 8001 8002
ENTRYPOINT ["todostream"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
