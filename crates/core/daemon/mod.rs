//! `onrust run`: the daemon. Kafka in (its own thread, driving the same pipeline
//! as `replay`), the outbox's delivery workers and the HTTP server on a tokio
//! runtime, all sharing [`live::Live`]. SIGTERM or SIGINT: stop consuming,
//! checkpoint and commit, let deliveries in flight finish, exit 0.

mod delivery;
mod http;
mod ingest;
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
}

/// How long shutdown waits for deliveries in flight and open connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub fn run(args: &RunArgs) -> Result<()> {
    // Fault injection for the crash tests: `FAILPOINTS=name=action` (fail-rs); a
    // no-op unless that variable is set.
    let _faults = fail::FailScenario::setup();
    let mut settings = Settings::load(&args.config)?;
    let secrets = settings.secrets()?;
    settings.kafka.options.extend(secrets.kafka_options);
    let pipeline = Pipeline::new(&settings)?;
    if args.check_config {
        println!("{}: configuration is valid", args.config.display());
        return Ok(());
    }
    let store = Arc::new(Store::open(&settings.state.dir)?);
    let metrics = metrics::Metrics::new(settings.metrics.max_area_series)?;
    let live = Arc::new(Live::new(metrics, Arc::clone(&store), secrets.token));
    let mut sinks: Vec<Sink> = settings
        .webhooks
        .iter()
        .zip(secrets.hooks)
        .enumerate()
        .map(|(index, (hook, secret))| Sink {
            name: format!("webhook-{index}"),
            url: hook.url.clone(),
            kind: SinkKind::Webhook { secret },
            timeout: Duration::from_millis(hook.timeout_ms),
            max_backoff: Duration::from_millis(hook.max_backoff_ms),
        })
        .collect();
    if let Some(alertmanager) = &settings.alertmanager {
        sinks.push(Sink {
            name: "alertmanager".into(),
            url: alertmanager.url.clone(),
            kind: SinkKind::Alertmanager,
            timeout: Duration::from_millis(alertmanager.timeout_ms),
            max_backoff: Duration::from_secs(60),
        });
    }
    let ingest = ingest::Ingest::new(
        pipeline,
        &settings,
        Arc::clone(&store),
        Arc::clone(&live),
        sinks.len() as u32,
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(settings, ingest, sinks, live))
}

async fn serve(
    settings: Settings,
    ingest: ingest::Ingest,
    sinks: Vec<Sink>,
    live: Arc<Live>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(&settings.http.listen)
        .await
        .map_err(|e| UsageError(format!("http.listen {}: {e}", settings.http.listen)))?;
    eprintln!("onrust: listening on http://{}", listener.local_addr()?);
    let router = http::router(http::Server {
        live: Arc::clone(&live),
        audit_log: settings.state.dir.join("audit.jsonl"),
    });
    let shutdown_live = Arc::clone(&live);
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown_live.stopped().await })
            .await
    });
    let workers: Vec<_> = sinks
        .into_iter()
        .enumerate()
        .map(|(index, sink)| tokio::spawn(delivery::run(index as u32, sink, Arc::clone(&live))))
        .collect();
    let signals = tokio::spawn(stop_on_signal(Arc::clone(&live)));
    let kafka = settings.kafka.clone();
    let interval = Duration::from_millis(settings.state.checkpoint_interval_ms);
    let ingest_live = Arc::clone(&live);
    let consumed =
        tokio::task::spawn_blocking(move || ingest::run(ingest, &kafka, interval, ingest_live))
            .await
            .context("the Kafka thread")?;
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
