# The masspay-sandbox image: one static binary on an empty base, non-root, listening on 0.0.0.0:8080.
#
#   docker build -t masspay-sandbox .
#   docker run --rm -p 8080:8080 masspay-sandbox
#   docker run --rm -p 8080:8080 -v ./scenarios:/scenarios -e MASSPAY_SANDBOX_SCENARIOS=/scenarios masspay-sandbox
#
# Every flag has an env twin (MASSPAY_SANDBOX_*), so configuration is `-e` or `command:` args.

# Build: a fully static binary (glibc's crt-static on the gnu target) for the build platform's
# architecture, so the same file serves linux/amd64 and linux/arm64 builds; the `dist` profile
# (Cargo.toml) optimises the whole program as one unit.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN target="$(uname -m)-unknown-linux-gnu" \
 && RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build --profile dist --locked --target "$target" \
 && mkdir -p /out \
 && cp "target/$target/dist/masspay-sandbox" /out/masspay-sandbox

# Run: nothing but the binary. No shell, no libc, no package manager; the fixtures and scenarios
# are embedded in the binary.
FROM scratch AS runtime
COPY --from=build /out/masspay-sandbox /masspay-sandbox
USER 65532:65532
ENV MASSPAY_SANDBOX_HOST=0.0.0.0 \
    MASSPAY_SANDBOX_PORT=8080
EXPOSE 8080
# The binary checks itself (there is no shell or curl in the image).
HEALTHCHECK --interval=5s --timeout=4s --start-period=2s --retries=3 \
    CMD ["/masspay-sandbox", "healthcheck"]
ENTRYPOINT ["/masspay-sandbox"]
