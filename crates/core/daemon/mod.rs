//! `onrust run`: the daemon. Kafka in (its own thread, driving the same pipeline
//! as `replay`), the outbox's delivery workers and the HTTP server on a tokio
//! runtime, all sharing [`live::Live`]. SIGTERM or SIGINT: stop consuming,
//! checkpoint and commit, let deliveries in flight finish, exit 0.

mod applier;
mod dead_letters;
mod delivery;
mod demo;
mod http;
mod ingest;
mod listener;
mod live;
mod metrics;
mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::pipeline::Pipeline;
use crate::settings::Settings;
use crate::UsageError;
use delivery::{Sink, SinkKind};
use live::Live;
use store::Store;

/// Run the daemon: Kafka in, alerts out, HTTP server up.
#[derive(Args)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Check the configuration (and the models, areas and secrets it names), then exit.
    #[arg(long)]
    check_config: bool,
    /// Start afresh: move the store of `state.dir` aside (a corrupt or empty one
    /// is refused otherwise), losing its checkpoint, outbox and alert records.
    #[arg(long)]
    reset_state: bool,
}

/// How long shutdown waits for deliveries in flight and open connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// `onrust run`: checks the configuration, then serves until SIGTERM or SIGINT.
pub fn run(args: &RunArgs) -> Result<()> {
    // Fault injection for the crash tests: `FAILPOINTS=name=action` (fail-rs); a
    // no-op unless that variable is set.
    let _faults = fail::FailScenario::setup();
    let mut settings = Settings::load(&args.config)?;
    let secrets = settings.secrets()?;
    settings.kafka.options.extend(secrets.kafka_options);
    let pipeline =
        Pipeline::new(&settings, settings.pseudonymiser()?)?.across_partitions(&settings);
    check_state_dir(&settings.state.dir)?;
    if args.check_config {
        println!("{}: configuration is valid", args.config.display());
        return Ok(());
    }
    let store = Arc::new(Store::open(&settings.state.dir, args.reset_state)?);
    let metrics = metrics::Metrics::new(settings.metrics.max_area_series)?;
    let live = Arc::new(Live::new(
        metrics,
        Arc::clone(&store),
        secrets.token,
        pipeline.geometry(),
    ));
    let mut sinks: Vec<Sink> = settings
        .webhooks
        .iter()
        .zip(secrets.hooks)
        .enumerate()
        .map(|(index, (hook, secret))| Sink {
            name: format!("webhook-{index}"),
            outbox: 0,
            url: hook.url.clone(),
            kind: SinkKind::Webhook { secret },
            timeout: Duration::from_millis(hook.timeout_ms),
            max_backoff: Duration::from_millis(hook.max_backoff_ms),
        })
        .collect();
    if let Some(alertmanager) = &settings.alertmanager {
        sinks.push(Sink {
            name: "alertmanager".into(),
            outbox: 0,
            url: alertmanager.url.clone(),
            kind: SinkKind::Alertmanager,
            timeout: Duration::from_millis(alertmanager.timeout_ms),
            max_backoff: Duration::from_secs(60),
        });
    }
    let receivers = distinct_receivers(&sinks);
    let (outboxes, given_up) =
        store.receiver_ids(&receivers, chrono::Utc::now().timestamp_millis())?;
    if given_up > 0 {
        eprintln!(
            "onrust: gave up {given_up} waiting deliveries: their receivers are no longer \
             configured"
        );
    }
    for (sink, outbox) in sinks.iter_mut().zip(&outboxes) {
        sink.outbox = *outbox;
    }
    let applier = applier::Applier::new(
        pipeline,
        &settings,
        Arc::clone(&store),
        Arc::clone(&live),
        outboxes,
    )?;
    let kafka = settings.kafka.clone();
    let interval = Duration::from_millis(settings.state.checkpoint_interval_ms);
    let ingest_live = Arc::clone(&live);
    let ingest_store = Arc::clone(&store);
    let source = move || ingest::run(applier, ingest_store, &kafka, interval, ingest_live);
    let server = http::Server {
        live: Arc::clone(&live),
        audit_log: settings.state.dir.join("audit.jsonl"),
        protect_reads: settings.http.protect_reads,
        unhealthy_after: Duration::from_secs(settings.state.unhealthy_after_seconds),
        allowed_hosts: Arc::new(allowed_hosts(&settings.http)),
        max_event_clients: settings.http.max_event_clients,
        event_clients: Arc::default(),
        keep_alive: keep_alive(&settings.http),
    };
    let limits = connection_limits(&settings.http);
    runtime()?.block_on(serve(
        &settings.http.listen,
        limits,
        server,
        sinks,
        live,
        source,
    ))
}

/// The host names requests may be addressed to: `http.allowed_hosts` (their
/// names, lower case, without ports), else the defaults for `http.listen`.
fn allowed_hosts(http: &crate::settings::HttpSettings) -> Vec<String> {
    if http.allowed_hosts.is_empty() {
        http::Server::default_hosts(&http.listen)
    } else {
        http.allowed_hosts
            .iter()
            .map(|host| http::host_name(host))
            .collect()
    }
}

/// The event streams' keep-alive: every 15 s, or a third of the idle timeout
/// when that is shorter.
fn keep_alive(http: &crate::settings::HttpSettings) -> Duration {
    Duration::from_secs(15).min(Duration::from_millis(
        http.idle_timeout_seconds.saturating_mul(1000) / 3,
    ))
}

/// The HTTP connection limits of `[http]`.
fn connection_limits(http: &crate::settings::HttpSettings) -> listener::ConnectionLimits {
    listener::ConnectionLimits {
        max_connections: http.max_connections,
        max_per_client: http.max_connections_per_client,
        idle_timeout: Duration::from_secs(http.idle_timeout_seconds),
    }
}

/// Checks that `state.dir` is a folder this process can write in (creating it
/// when missing): a probe file is written, synced and removed.
fn check_state_dir(dir: &std::path::Path) -> Result<()> {
    let unusable = |error: std::io::Error| {
        UsageError(format!(
            "state.dir {}: cannot be written: {error}",
            dir.display()
        ))
    };
    if dir.exists() && !dir.is_dir() {
        return Err(UsageError(format!("state.dir {}: is not a folder", dir.display())).into());
    }
    std::fs::create_dir_all(dir).map_err(unusable)?;
    let probe = dir.join(format!(".onrust-write-check-{}", std::process::id()));
    let written = std::fs::File::create(&probe).and_then(|mut file| {
        std::io::Write::write_all(&mut file, b"onrust")?;
        file.sync_all()
    });
    let removed = std::fs::remove_file(&probe);
    written.map_err(unusable)?;
    removed.map_err(unusable)?;
    Ok(())
}

/// Fault injection for the tests: whether the failpoint `name`, set as
/// `FAILPOINTS=name=return(FILE)`, is active, which it is while FILE exists (so a
/// test ends the fault by removing the file). Always `false` unless that
/// variable names it.
fn fault_while_file(name: &str) -> bool {
    fail::eval(name, |file| {
        file.is_some_and(|file| std::path::Path::new(&file).exists())
    }) == Some(true)
}

/// Each sink's receiver (see [`Sink::receiver`]); a receiver configured twice gets
/// `#2`, `#3`, ... so that every sink has a part of the outbox of its own.
fn distinct_receivers(sinks: &[Sink]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    sinks
        .iter()
        .map(|sink| {
            let receiver = sink.receiver();
            let earlier = seen.iter().filter(|r| **r == receiver).count();
            seen.push(receiver.clone());
            if earlier == 0 {
                receiver
            } else {
                format!("{receiver} #{}", earlier + 1)
            }
        })
        .collect()
}

/// Run the daemon on a built-in synthetic firehose: no Kafka, no configuration.
#[derive(Args)]
pub struct DemoArgs {
    /// Event time runs this many times faster than the wall clock.
    #[arg(long, default_value_t = 30.0)]
    speed: f64,
    /// Seed of the synthetic firehose (and of the areas' outlines).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Address and port of the dashboard and API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
}

/// `onrust demo`: the daemon on the built-in firehose, its state in a temporary
/// directory removed at the end.
pub fn demo(args: &DemoArgs) -> Result<()> {
    if !(args.speed > 0.0 && args.speed.is_finite()) {
        return Err(
            UsageError(format!("--speed {}: must be a positive number", args.speed)).into(),
        );
    }
    let mut settings = Settings::default();
    // The demo's event time runs `speed` times the wall clock, into the future on
    // purpose: posts are dated up to a week ahead of it.
    settings.signal.max_future_minutes = 7 * 24 * 60;
    let geometry = demo::areas_geojson(args.seed);
    let pipeline = Pipeline::with_areas(
        &settings,
        Some(("built-in areas".into(), geometry)),
        settings.pseudonymiser_or_random()?,
    )?;
    let state = std::env::temp_dir().join(format!("onrust-demo-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(state.clone());
    let store = Arc::new(Store::open(&state, false)?);
    let metrics = metrics::Metrics::new(settings.metrics.max_area_series)?;
    let live = Arc::new(Live::new(
        metrics,
        Arc::clone(&store),
        None,
        pipeline.geometry(),
    ));
    let applier = applier::Applier::new(pipeline, &settings, store, Arc::clone(&live), Vec::new())?;
    live.set_source_connected(true);
    let options = demo::DemoOptions {
        speed: args.speed,
        seed: args.seed,
    };
    let source = move || demo::run(applier, options);
    let printer = print_alerts(Arc::clone(&live));
    println!(
        "onrust demo: dashboard at http://{}  (event time runs {}x the wall clock; \
         a festival in Rotterdam, tension building in Haren; Ctrl-C stops)",
        args.listen, args.speed
    );
    runtime()?.block_on(async move {
        tokio::spawn(printer);
        let server = http::Server {
            live: Arc::clone(&live),
            audit_log: state.join("audit.jsonl"),
            protect_reads: false,
            unhealthy_after: Duration::from_secs(settings.state.unhealthy_after_seconds),
            allowed_hosts: Arc::new(http::Server::default_hosts(&args.listen)),
            max_event_clients: settings.http.max_event_clients,
            event_clients: Arc::default(),
            keep_alive: keep_alive(&settings.http),
        };
        let limits = connection_limits(&settings.http);
        serve(&args.listen, limits, server, Vec::new(), live, source).await
    })
}

/// Removes the demo's state directory when the demo ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        // Best effort: a leftover directory in the temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Prints each alert event on standard output as it is raised.
async fn print_alerts(live: Arc<Live>) {
    let mut changes = live.changes.subscribe();
    loop {
        match changes.recv().await {
            Ok(change) if change.kind == "alert" => {
                let Ok(event) =
                    serde_json::from_str::<onrust_signal::engine::AlertEvent>(&change.data)
                else {
                    continue;
                };
                let time = event.ends_at.as_deref().unwrap_or(&event.starts_at);
                println!(
                    "{time}  {:<8} {:<8} {:<17} {}: {} posts in {}, tension {:.2} against {:.2} (z {:.1}){}",
                    event.severity.as_str().to_uppercase(),
                    event.status.as_str(),
                    event.rule,
                    event.area.name,
                    event.observed.posts,
                    event.observed.window,
                    event.observed.tension,
                    event.observed.baseline_tension,
                    event.observed.zscore,
                    if event.evidence.terms.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", event.evidence.terms.join(", "))
                    },
                );
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Serves HTTP and the delivery workers while `source` feeds the pipeline on a
/// blocking thread; when the source returns (a signal, or a failure), everything
/// stops.
async fn serve(
    listen: &str,
    limits: listener::ConnectionLimits,
    server: http::Server,
    sinks: Vec<Sink>,
    live: Arc<Live>,
    source: impl FnOnce() -> Result<()> + Send + 'static,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| UsageError(format!("http.listen {listen}: {e}")))?;
    let address = listener.local_addr()?;
    eprintln!("onrust: listening on http://{address}");
    let router = http::router(server);
    let shutdown_live = Arc::clone(&live);
    let serve_live = Arc::clone(&live);
    let server = tokio::spawn(async move {
        axum::serve(
            listener::GuardedListener::new(listener, limits, serve_live),
            router,
        )
        .with_graceful_shutdown(async move { shutdown_live.stopped().await })
        .await
    });
    let workers: Vec<_> = sinks
        .into_iter()
        .map(|sink| tokio::spawn(delivery::run(sink, Arc::clone(&live))))
        .collect();
    let signals = tokio::spawn(stop_on_signal(Arc::clone(&live)));
    let consumed = tokio::task::spawn_blocking(source)
        .await
        .context("the source thread")?;
    // The consumer has stopped (signal or failure): everything else stops too.
    live.stop();
    signals.abort();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        for worker in workers {
            let _ = worker.await;
        }
    })
    .await;
    if let Ok(pending) = live.store.pending_count() {
        if pending > 0 {
            eprintln!("onrust: {pending} deliveries wait in the outbox for the next start");
        }
    }
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(Ok(result)) => result.context("the HTTP server")?,
        Ok(Err(error)) => return Err(error).context("the HTTP server"),
        Err(_) => eprintln!("onrust: open HTTP connections closed at shutdown"),
    }
    consumed?;
    eprintln!("onrust: stopped cleanly");
    Ok(())
}

async fn stop_on_signal(live: Arc<Live>) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                eprintln!("onrust: cannot listen for SIGTERM: {error}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    eprintln!("onrust: stopping");
    live.stop();
}
