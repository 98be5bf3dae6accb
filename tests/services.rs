//! Real services for the daemon's tests, each on a free loopback port and stopped
//! when dropped: a Tansu Kafka broker (memory storage), a webhook receiver, and the
//! `onrust run` daemon itself; plus a minimal HTTP client.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::TopicPartitionList;

use crate::support::{onrust, TempDir};

/// The sum of every series of metric `name` (a `{label}` selector may follow the
/// name) in a Prometheus text exposition; 0 when there is none.
pub fn metric_in(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A free loopback port (bound, then released for the service to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `condition` every 100 ms until it holds or `limit` passes.
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `tansu` binary: `$ONRUST_TANSU`, else `tansu` on the PATH or in
/// `~/.cargo/bin` (tests/run.sh installs it).
fn tansu() -> PathBuf {
    if let Some(path) = std::env::var_os("ONRUST_TANSU") {
        return PathBuf::from(path);
    }
    let in_cargo =
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin/tansu"));
    match in_cargo.filter(|p| p.is_file()) {
        Some(path) => path,
        None => PathBuf::from("tansu"),
    }
}

/// Produces `messages` (value only) to partition 0 of `topic` on `broker`, in order.
pub fn produce_to(broker: &str, topic: &str, messages: impl IntoIterator<Item = impl AsRef<[u8]>>) {
    produce(broker, topic, messages, 1, 10_000);
}

/// Produces `messages` to partitions `0..partitions` of `topic` in turn, each in
/// a record batch of its own: the daemon pauses partitions that run ahead, and
/// resumes them mid-batch (see [`produce_one_per_batch`]).
pub fn produce_spread(
    broker: &str,
    topic: &str,
    messages: impl IntoIterator<Item = impl AsRef<[u8]>>,
    partitions: i32,
) {
    produce(broker, topic, messages, partitions, 1);
}

/// Produces each `(partition, message)` to its partition of `topic`, in order,
/// each in a record batch of its own (see [`produce_one_per_batch`]): a consumer
/// that pauses a partition and resumes it mid-batch sees every message too.
pub fn produce_partitioned(broker: &str, topic: &str, messages: &[(i32, Vec<u8>)]) {
    let producer = producer(broker, 1);
    for (partition, message) in messages {
        send(
            &producer,
            BaseRecord::<(), [u8]>::to(topic)
                .payload(message.as_slice())
                .partition(*partition),
        );
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
}

/// The partition of `0..partitions` a producer keying by `key` would pick
/// (FNV-1a, as stable as a collector's own hash).
pub fn partition_of(key: &str, partitions: i32) -> i32 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % partitions.max(1) as u64) as i32
}

/// Produces `messages` to partition 0 of `topic`, each in a record batch of its
/// own. Tansu 0.6 answers a fetch from an offset inside a batch with the next
/// batch, skipping the rest of the one asked for (Kafka returns the whole batch
/// and the client drops what lies before the offset); a consumer that resumes at
/// any offset only sees every message when every offset starts a batch.
pub fn produce_one_per_batch(
    broker: &str,
    topic: &str,
    messages: impl IntoIterator<Item = impl AsRef<[u8]>>,
) {
    produce(broker, topic, messages, 1, 1);
}

fn produce(
    broker: &str,
    topic: &str,
    messages: impl IntoIterator<Item = impl AsRef<[u8]>>,
    partitions: i32,
    batch_messages: u32,
) {
    let producer = producer(broker, batch_messages);
    for (index, message) in messages.into_iter().enumerate() {
        send(
            &producer,
            BaseRecord::<(), [u8]>::to(topic)
                .payload(message.as_ref())
                .partition(index as i32 % partitions.max(1)),
        );
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

fn producer(broker: &str, batch_messages: u32) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("batch.num.messages", batch_messages.to_string())
        .set("enable.idempotence", "false")
        // A retried batch must not overtake the next: keep the order as given.
        .set("max.in.flight.requests.per.connection", "1")
        .set("linger.ms", "5")
        // Hostile-input tests send messages over the 1 MB default.
        .set("message.max.bytes", "4000000")
        .create()
        .expect("producer")
}

/// Sends `record`, waiting while the producer's queue is full.
fn send(producer: &ThreadedProducer<DefaultProducerContext>, mut record: BaseRecord<'_, (), [u8]>) {
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, returned)) => {
                record = returned;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A Tansu broker with memory storage on a loopback port.
pub struct Broker {
    port: u16,
    /// The port it tells clients to use (its own, or a [`Relay`]'s in front of it).
    advertised: u16,
    child: Option<Child>,
}

impl Broker {
    /// Starts a broker on a free port and waits until it accepts connections.
    pub fn start() -> Broker {
        let port = free_port();
        let mut broker = Broker {
            port,
            advertised: port,
            child: None,
        };
        broker.restart();
        broker
    }

    /// Starts a broker that sends clients to `advertised` (where a [`Relay`] to it
    /// listens) once they have bootstrapped.
    pub fn start_behind(advertised: u16) -> Broker {
        let mut broker = Broker {
            port: free_port(),
            advertised,
            child: None,
        };
        broker.restart();
        broker
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A broker that is not started yet, on a port reserved for it.
    pub fn unstarted() -> Broker {
        let port = free_port();
        Broker {
            port,
            advertised: port,
            child: None,
        }
    }

    /// Starts (again) on the same port.
    pub fn restart(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!("tcp://127.0.0.1:{}", self.advertised);
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start tansu ({e}): run the tests with tests/run.sh, which installs it"
                )
            });
        self.child = Some(child);
        let address = self.address();
        wait_until("the broker to listen", Duration::from_secs(30), || {
            TcpStream::connect(&address).is_ok()
        });
    }

    /// Creates a topic with `partitions` partitions, as an operator would.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let status = Command::new(tansu())
            .args([
                "topic",
                "create",
                name,
                "--broker",
                &format!("tcp://{}", self.address()),
                "--partitions",
                &partitions.to_string(),
            ])
            .stdout(Stdio::null())
            .status()
            .expect("run tansu topic create");
        assert!(status.success(), "tansu topic create {name} failed");
    }

    /// Deletes a topic, as an operator would.
    pub fn delete_topic(&self, name: &str) {
        let status = Command::new(tansu())
            .args([
                "topic",
                "delete",
                name,
                "--broker",
                &format!("tcp://{}", self.address()),
            ])
            .stdout(Stdio::null())
            .status()
            .expect("run tansu topic delete");
        assert!(status.success(), "tansu topic delete {name} failed");
    }

    /// The offsets `group` has committed on partitions `0..partitions` of
    /// `topic`, summed (a partition without a commit counts 0).
    pub fn committed_total(&self, group: &str, topic: &str, partitions: i32) -> i64 {
        (0..partitions)
            .map(|partition| self.committed_on(group, topic, partition).unwrap_or(0))
            .sum()
    }

    /// Produces `messages` (value only) to partition 0 of `topic`, in order.
    pub fn produce(&self, topic: &str, messages: impl IntoIterator<Item = impl AsRef<[u8]>>) {
        produce_to(&self.address(), topic, messages);
    }

    /// Every message of `topic` with its `header` value (read from the start),
    /// once `expected` have come or after 30 s.
    pub fn read_all(
        &self,
        topic: &str,
        header: &str,
        expected: usize,
    ) -> Vec<(Vec<u8>, Option<String>)> {
        self.read_within(topic, header, expected, Duration::from_secs(30))
    }

    /// As [`Broker::read_all`], waiting at most `limit` for `expected` messages.
    pub fn read_within(
        &self,
        topic: &str,
        header: &str,
        expected: usize,
        limit: Duration,
    ) -> Vec<(Vec<u8>, Option<String>)> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.address())
            .set("group.id", format!("reader-{}", free_port()))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
            .expect("partition");
        consumer.assign(&assignment).expect("assign");
        let mut out = Vec::new();
        let start = Instant::now();
        while out.len() < expected && start.elapsed() < limit {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
                let value = message.headers().and_then(|headers| {
                    headers
                        .iter()
                        .find(|h| h.key == header)
                        .and_then(|h| h.value)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                });
                out.push((message.payload().unwrap_or_default().to_vec(), value));
            }
        }
        out
    }

    /// The offset `group` has committed on partition 0 of `topic` (`None`: none).
    pub fn committed(&self, group: &str, topic: &str) -> Option<i64> {
        self.committed_on(group, topic, 0)
    }

    /// The offset `group` has committed on `partition` of `topic` (`None`: none).
    pub fn committed_on(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.address())
            .set("group.id", group)
            .create()
            .expect("consumer");
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition(topic, partition);
        let committed = consumer
            .committed_offsets(partitions, Duration::from_secs(10))
            .ok()?;
        committed
            .find_partition(topic, partition)
            .and_then(|p| p.offset().to_raw())
            .filter(|&offset| offset >= 0)
    }

    /// Stops the broker (SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP relay on loopback in front of a broker: it can go away (its connections
/// cut, new ones refused) and come back on the same port, which is what a client
/// sees of a broker that stops and restarts, without the broker losing its data.
pub struct Relay {
    port: u16,
    target: String,
    open: Arc<Mutex<Option<RelayRun>>>,
}

struct RelayRun {
    stop: Arc<std::sync::atomic::AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: std::thread::JoinHandle<()>,
}

impl Relay {
    /// A relay on `port` to `target` (`host:port`), open.
    pub fn start(port: u16, target: &str) -> Relay {
        let relay = Relay {
            port,
            target: target.to_string(),
            open: Arc::new(Mutex::new(None)),
        };
        relay.restore();
        relay
    }

    /// `host:port` of the relay.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Cuts every connection and refuses new ones.
    pub fn cut(&self) {
        let Some(run) = self.open.lock().expect("relay").take() else {
            return;
        };
        run.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = run.acceptor.join();
        for stream in run.connections.lock().expect("relay").drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Listens again on the same port.
    pub fn restore(&self) {
        let mut open = self.open.lock().expect("relay");
        if open.is_some() {
            return;
        }
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("relay port");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, connections, target) = (
                Arc::clone(&stop),
                Arc::clone(&connections),
                self.target.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            let _ = client.set_nonblocking(false);
                            if let Ok(server) = TcpStream::connect(&target) {
                                pipe(client, server, &connections);
                            }
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        *open = Some(RelayRun {
            stop,
            connections,
            acceptor,
        });
    }
}

/// Copies both ways between `client` and `server` until either side closes.
fn pipe(client: TcpStream, server: TcpStream, connections: &Mutex<Vec<TcpStream>>) {
    let mut kept = connections.lock().expect("relay");
    for (from, to) in [(&client, &server), (&server, &client)] {
        let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
            return;
        };
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Both);
            let _ = from.shutdown(std::net::Shutdown::Both);
        });
    }
    kept.push(client);
    kept.push(server);
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// One request the webhook receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Lower-case header names → values.
    pub headers: BTreeMap<String, String>,
    /// The raw body.
    pub body: String,
    /// The status the receiver answered.
    pub status: u16,
    /// When it came.
    pub at: Instant,
}

/// A webhook receiver on loopback: answers 204, or the status set with
/// [`Receiver::answer_next`] (a 429 with `Retry-After: 3`), and records every
/// request.
pub struct Receiver {
    /// Where it listens.
    pub address: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Vec<(u16, Duration)>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Starts a receiver on a free port.
    pub fn start() -> Receiver {
        Receiver::start_on(free_port())
    }

    /// Starts a receiver on `port`.
    pub fn start_on(port: u16) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(Vec::new()));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let address: SocketAddr = ([127, 0, 0, 1], port).into();
        let listener = std::net::TcpListener::bind(address).expect("bind the receiver");
        listener.set_nonblocking(true).expect("non-blocking");
        let (log, scripted) = (Arc::clone(&received), Arc::clone(&script));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let app = axum::Router::new().fallback(
                    move |headers: axum::http::HeaderMap, body: String| {
                        let (log, scripted) = (Arc::clone(&log), Arc::clone(&scripted));
                        async move {
                            let next = {
                                let mut script = scripted.lock().expect("script");
                                (!script.is_empty()).then(|| script.remove(0))
                            };
                            let (status, delay) = next.unwrap_or((204, Duration::ZERO));
                            let at = Instant::now();
                            tokio::time::sleep(delay).await;
                            let headers = headers
                                .iter()
                                .map(|(k, v)| {
                                    (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                                })
                                .collect();
                            log.lock().expect("log").push(Received {
                                headers,
                                body,
                                status,
                                at,
                            });
                            let status = axum::http::StatusCode::from_u16(status).expect("status");
                            let retry_after = (status == axum::http::StatusCode::TOO_MANY_REQUESTS)
                                .then_some([(axum::http::header::RETRY_AFTER, "3")]);
                            (
                                status,
                                axum::response::AppendHeaders(retry_after.into_iter().flatten()),
                            )
                        }
                    },
                );
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        Receiver {
            address,
            received,
            script,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// Answers the next `n` requests with `status` after `delay` (then 204 at once).
    pub fn answer_next(&self, n: usize, status: u16, delay: Duration) {
        let mut script = self.script.lock().expect("script");
        script.extend(std::iter::repeat_n((status, delay), n));
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }

    /// Bodies of the requests answered 2xx, by idempotency key, in arrival order.
    pub fn delivered(&self) -> Vec<(String, String)> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .map(|r| {
                (
                    r.headers
                        .get("idempotency-key")
                        .cloned()
                        .unwrap_or_default(),
                    r.body,
                )
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A running `onrust run`, killed when dropped.
pub struct Daemon {
    child: Child,
    /// Its HTTP address.
    pub http: String,
    /// Its standard error.
    pub log: PathBuf,
}

/// The key test daemons pseudonymise authors with.
pub const AUTHOR_KEY: &str = "a test key to pseudonymise authors";

impl Daemon {
    /// Starts `onrust run --config CONFIG` with `env`, its log in `dir`.
    pub fn start(config: &Path, http: &str, dir: &TempDir, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(config, http, dir, env, &[])
    }

    /// As [`Daemon::start`], with more arguments after `--config CONFIG`.
    pub fn start_with(
        config: &Path,
        http: &str,
        dir: &TempDir,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Daemon {
        let log = dir.path().join(format!("daemon-{}.log", free_port()));
        let child = onrust()
            .args(["run", "--config", &config.display().to_string()])
            .args(args)
            .env("ONRUST_AUTHOR_KEY", AUTHOR_KEY)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start onrust run");
        Daemon {
            child,
            http: http.to_string(),
            log,
        }
    }

    /// `GET path`: the status and body.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_request(&self.http, "GET", path, &[], "")
    }

    /// A metric's value from `/metrics`, summed over its series (0 when absent);
    /// `name` may carry labels as exported, `name{a="x",b="y"}`.
    pub fn metric(&self, name: &str) -> f64 {
        match self.get("/metrics") {
            Some((200, text)) => metric_in(&text, name),
            _ => 0.0,
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no exit within 30 s of SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, no goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 request: the status and body (`None`: no connection).
pub fn http_request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Some((status, body))
}

/// Reads a server-sent event stream in the background; its raw text so far.
pub struct EventStream {
    text: Arc<Mutex<String>>,
}

impl EventStream {
    /// Opens `GET path` on `address` and keeps reading.
    pub fn open(address: &str, path: &str) -> EventStream {
        let mut stream = TcpStream::connect(address).expect("connect for events");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .expect("request events");
        let text = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&text);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = stream.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("events")
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        EventStream { text }
    }

    /// Everything received so far.
    pub fn text(&self) -> String {
        self.text.lock().expect("events").clone()
    }
}

/// Writes `onrust.toml` in `dir` for a daemon on `broker` serving `http`, with the
/// scenarios' areas, state in `dir/state`, checkpoints every 200 ms, and `extra`
/// TOML appended under the `[http]` section's keys.
pub fn daemon_config(dir: &TempDir, broker: &Broker, http: &str, extra: &str) -> PathBuf {
    let config = dir.path().join("onrust.toml");
    let toml = format!(
        "[areas]\nfile = \"{}\"\n\n[kafka]\nbrokers = \"{}\"\n\n[state]\ndir = \"state\"\ncheckpoint_interval_ms = 200\n\n[http]\nlisten = \"{http}\"\n{extra}",
        crate::support::root().join("tests/scenarios/areas.geojson").display(),
        broker.address()
    );
    std::fs::write(&config, toml).expect("write config");
    config
}
