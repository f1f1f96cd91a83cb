# cpd-hub: a release build in a full Rust image, run from a slim Debian image as a non-root user.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY email-templates ./email-templates
# Swagger UI as served at /api/docs/ (Cargo.toml's [patch.crates-io]).
COPY assets ./assets
# The workspace's other member (benchmark tools) must be present, though it is not built.
COPY tools ./tools
RUN cargo build --release --locked --bin cpd-hub

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /data cpdhub
COPY --from=build /src/target/release/cpd-hub /usr/local/bin/cpd-hub
USER cpdhub
WORKDIR /data
# The SQLite file lives on the volume; set DATABASE_URL=postgres://... to use PostgreSQL instead.
ENV BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/cpd-hub.db
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["cpd-hub"]
CMD ["serve"]
