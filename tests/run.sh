#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh machine:
#   ./tests/run.sh
# Checks formatting and lints, then runs every test (unit, integration, model
# quality guards, the daemon against real services) in release mode. Installs what
# the tests need when it is missing:
#   - Tansu, a Kafka-compatible broker (cargo install; about ten minutes, once);
#   - Prometheus Alertmanager (Debian's prometheus-alertmanager);
#   - Prometheus and promtool (Debian's prometheus), for the Grafana queries and
#     the alerting rules of deploy/;
#   - Chromium and ChromeDriver for the dashboard's browser test (Debian's
#     chromium, chromium-driver); its screenshot goes to target/artifacts/;
#   - cargo-fuzz, for the fuzz targets of tests/fuzz (run FUZZ_SECONDS each,
#     default 60, on the stable toolchain with RUSTC_BOOTSTRAP for the sanitizer
#     flags; a crash leaves its input in target/fuzz/artifacts/).
# The daemon tests start each service themselves on a free loopback port (a fresh
# Tansu broker with memory storage per test, its topics created with
# `tansu topic create`) and stop it when the test ends.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install the Rust toolchain (https://rustup.rs) first" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    step "installing $component"
    rustup component add "$component"
  fi
done

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing_packages=()
# librdkafka is built with TLS and SASL (PLAIN, SCRAM) against the system OpenSSL.
for package in libssl-dev pkg-config; do
  dpkg -s "$package" >/dev/null 2>&1 || missing_packages+=("$package")
done
command -v prometheus-alertmanager >/dev/null 2>&1 || missing_packages+=(prometheus-alertmanager)
command -v prometheus >/dev/null 2>&1 || missing_packages+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing_packages+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing_packages+=(chromium-driver)
if [ ${#missing_packages[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing_packages[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_packages[@]}"
fi

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if ! command -v tansu >/dev/null 2>&1 && [ ! -x "$cargo_bin/tansu" ]; then
  step "installing the Tansu Kafka broker (one time, about ten minutes)"
  # Plain features lack the memory storage engine the tests use.
  cargo install tansu --locked --features dynostore
fi
if ! cargo fuzz --version >/dev/null 2>&1 && [ ! -x "$cargo_bin/cargo-fuzz" ]; then
  step "installing cargo-fuzz (one time, about a minute)"
  cargo install cargo-fuzz --locked
fi
export PATH="$cargo_bin:$PATH"

step "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path tests/fuzz/Cargo.toml -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test --release (unit, integration, model guards)"
log=$(mktemp)
trap 'rm -f "$log" "$log.fuzz"' EXIT
# Library, binary and test targets (the crates have no doc examples to run).
cargo test --workspace --release --lib --bins --tests 2>&1 | tee "$log"

fuzz_seconds="${FUZZ_SECONDS:-60}"
for target in post_decoder areas_loader; do
  step "cargo fuzz run $target for ${fuzz_seconds} s"
  mkdir -p "target/fuzz/corpus/$target" "target/fuzz/artifacts/$target"
  # The first corpus directory takes what the fuzzer finds; the seeds stay as
  # committed.
  if ! RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz --target-dir target/fuzz -O "$target" \
    "target/fuzz/corpus/$target" "tests/fuzz/seeds/$target" -- \
    -max_total_time="$fuzz_seconds" -max_len=8192 \
    -artifact_prefix="target/fuzz/artifacts/$target/" >"$log.fuzz" 2>&1; then
    tail -n 60 "$log.fuzz"
    echo "fuzz target $target failed: the input is in target/fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^Done [0-9]+ runs' "$log.fuzz"
done

# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
