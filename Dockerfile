# The mtls-sandbox container image: one static binary on `scratch` (no
# shell, no libc, nothing to patch), running as a non-root user.
#
# Build it with `scripts/image` (or `just image`): it builds the static
# binary on the host and hands `docker build` a context of just this file,
# the binary, the CA roots and an empty state/ directory, so nothing is
# pulled and the build sends about 20 MB. `docker build .` in the repository does not work.
#
#   docker run --rm -p 127.0.0.1:4443-4445:4443-4445 -v sandbox-state:/state mtls-sandbox
#
# The state (CA, the app's certificate and key, sandbox.json) lives in the
# volume under /state/sandbox; another container that mounts the same volume
# reads sandbox.json and the files it names at the same paths.
FROM scratch

COPY mtls-sandbox /mtls-sandbox
# The build machine's CA roots (Debian's ca-certificates), where rustls'
# platform verifier looks: webhook receivers and jwks_uri documents on
# public https:// URLs are then trusted as on a laptop.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# scratch has no mkdir and no /etc/passwd: the volume's mount point comes
# from the context, owned by the numeric user. A new named volume takes this
# owner; a bind-mounted directory must be writable by uid 10001.
COPY --chown=10001:10001 state /state

# Flags from the environment (clap `env`): every interface, because a
# container's own loopback is unreachable through published ports. That also
# exposes the built-in testing/testing admin client, which `up` refuses
# without the opt-in: the container's ports reach only where you publish
# them (publish on 127.0.0.1, or set it to false and bring your own
# [[clients]]). MTLS_SANDBOX_PUBLIC_HOST=NAME puts the name other
# containers use (the compose service name) into the certificate and URLs.
ENV MTLS_SANDBOX_STATE_DIR=/state/sandbox \
    MTLS_SANDBOX_BIND=0.0.0.0 \
    MTLS_SANDBOX_ALLOW_SHARED_ADMIN=true \
    USER=sandbox

USER 10001:10001
WORKDIR /state
VOLUME /state
# sandbox, mtls, auth
EXPOSE 4443 4444 4445

# `wait` returns 0 once sandbox.json is written by the running `up`. Docker
# 20.10 (Debian's) has no --start-interval, so a short interval is what
# makes `healthy` (and compose's service_healthy) come soon after start.
HEALTHCHECK --interval=1s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/mtls-sandbox", "wait", "--timeout", "1s"]

# PID 1 is the sandbox itself: it handles SIGTERM (`docker stop`) by
# finishing in-flight requests and exiting 0.
ENTRYPOINT ["/mtls-sandbox"]
CMD ["up"]
