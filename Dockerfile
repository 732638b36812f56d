# syntax=docker/dockerfile:1
#
# adsched: scheduled ad-generation jobs, GitOps style.
#
#   docker build -t adsched .
#   docker run --rm -p 8787:8787 \
#     -v "$PWD/schedules:/schedules:ro" -v "$PWD/templates:/templates:ro" \
#     -v adsched-state:/var/lib/adsched adsched
#
# docs/deploy.md covers secrets, Kubernetes (git-sync or ConfigMap) and the
# single-writer store.

############################################################ build
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layer: this only rebuilds when Cargo.toml or
# Cargo.lock change. Placeholder targets stand in for src/main.rs and
# src/lib.rs (ring, the only C code, builds with the image's gcc; TLS is
# rustls, so no OpenSSL headers are needed).
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src target/release/.fingerprint/adsched-* \
           target/release/deps/adsched-* target/release/deps/libadsched-* \
           target/release/adsched target/release/adsched.d \
           target/release/libadsched.*

# The sources, and the files they embed at compile time: include_bytes! of the
# bundled font (local generator) and include_str! of the JSON Schema.
COPY assets/fonts/DejaVuSans-Bold.ttf assets/fonts/
COPY schemas/schedule.schema.json schemas/
COPY src ./src
# touch: COPY keeps the context's mtimes, which may be older than the
# placeholder build; the crate must be rebuilt whatever they are.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && ./target/release/adsched --version

############################################################ runtime
FROM debian:bookworm-slim

# ca-certificates only. HTTPS (Slack, an http(s) generator) and SMTPS use
# rustls with the webpki roots compiled in, so the system store is not needed;
# it does no harm and helps a `cmd:` generator that makes its own requests.
# No OpenSSL, no curl: the health check below uses bash, which the base has.
# DL3008 (pin apt versions): an exact Debian version breaks the build as soon as
# a security update supersedes it; the base image tag is the pin.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid so volume ownership and Kubernetes securityContext
# (runAsUser/fsGroup: 10001) are predictable.
# --no-log-init: a high uid would otherwise grow /var/log/lastlog and faillog.
RUN groupadd --gid 10001 adsched \
 && useradd --uid 10001 --gid adsched --no-log-init --no-create-home \
            --home-dir /var/lib/adsched --shell /usr/sbin/nologin adsched \
 && mkdir -p /schedules /templates /var/lib/adsched \
 && chown adsched:adsched /var/lib/adsched

COPY --from=build /src/target/release/adsched /usr/local/bin/adsched

# Every ADSCHED_* variable the binary reads. Only the first four have values
# here; the rest are documented and left unset. Secrets (SMTP password,
# Slack token, webhook URLs, API token) are passed at run time
# (docker run -e / --env-file, Kubernetes Secrets), never baked in.
#
# Daemon flags (each `--flag` also reads ADSCHED_<FLAG>):
#   ADSCHED_SCHEDULES      schedules folder to watch; mount read-only at /schedules
#   ADSCHED_TEMPLATES      template pool; mount read-only at /templates
#   ADSCHED_STATE          sled store and generated ads: the /var/lib/adsched volume
#                          (single writer: a second daemon on it exits)
#   ADSCHED_LISTEN         API, dashboard, /healthz /livez /readyz /metrics
#                          (binary default 127.0.0.1:8787; all interfaces here)
#   ADSCHED_GENERATOR      local (default, no network) | http(s)://URL | cmd:PROGRAM
#   ADSCHED_PUBLIC_URL     public base URL of the dashboard, for links in exports
#   ADSCHED_GRACE_SECONDS  how long SIGTERM waits for the current template (default 30)
#   ADSCHED_LOG_FORMAT     human (default) | json
#   (RUST_LOG filters the logs, e.g. info,adsched=debug.)
# Email export:
#   ADSCHED_SMTP_URL       secret: smtp://host:25, smtp://host:587?tls=required,
#                          smtps://user:pass@host
#   ADSCHED_EMAIL_FROM     sender address
#   ADSCHED_EMAIL_ALLOW    allowed recipient domains (comma-separated); set in production
# Slack export:
#   ADSCHED_SLACK_TOKEN    secret: bot token (files:write, chat:write)
#   ADSCHED_SLACK_API_URL  default https://slack.com/api
#   ADSCHED_SLACK_ALLOW    allowed channel ids; set in production
#   <NAME>                 secret: incoming-webhook URL of `slack: { webhook_env: NAME }`
# API:
#   ADSCHED_API_TOKEN      secret: POST /api/v1/schedules/{id}/trigger then needs
#                          `Authorization: Bearer <token>`; unset, only loopback may trigger
# Query commands (`docker exec ... adsched list`, runs, show, ...):
#   ADSCHED_SERVER         daemon to ask (default http://127.0.0.1:8787); they fall
#                          back to ADSCHED_STATE only when no daemon answers
ENV ADSCHED_SCHEDULES=/schedules \
    ADSCHED_TEMPLATES=/templates \
    ADSCHED_STATE=/var/lib/adsched \
    ADSCHED_LISTEN=0.0.0.0:8787

# The store. /schedules and /templates are not volumes: they are meant to be
# bind-mounted read-only (or filled by git-sync / a ConfigMap).
VOLUME ["/var/lib/adsched"]
EXPOSE 8787
USER 10001:10001

# Liveness of the HTTP server. Bookworm-slim has no curl or wget; installing
# curl would add libcurl and a dozen libraries for one GET. bash (already in
# the base) can speak HTTP over /dev/tcp with builtins only. The port and host
# follow ADSCHED_LISTEN, so overriding it does not break the check; a
# wildcard address (0.0.0.0, [::]) is reached on loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "l=${ADSCHED_LISTEN:-127.0.0.1:8787}; p=${l##*:}; h=${l%:*}; h=${h#[}; h=${h%]}; case $h in ''|0.0.0.0) h=127.0.0.1;; ::) h=::1;; esac; exec 3<>/dev/tcp/$h/$p || exit 1; printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3; read -r -t 4 s <&3; [[ $s == 'HTTP/1.'?' 200'* ]]"]

ENTRYPOINT ["adsched"]
CMD ["daemon"]
