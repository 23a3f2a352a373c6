//! Load generator for the gateway (`mix bench load` drives it).
//!
//! Opens many WebSocket sessions over loopback, each identifying as a user
//! of the synthetic dataset (`REALTIME_SEED=synthetic:...`, whose tokens it
//! computes), heartbeating at the interval HELLO gives, and timing every
//! MESSAGE_CREATE it receives from the send time carried in its nonce
//! (microseconds since the Unix epoch), in HDR histograms.
//!
//! Modes:
//! - `connect`: N sessions connect and identify, then idle (heartbeating)
//!   until a line `stop` on stdin or `--hold` seconds.
//! - `storm`: N sessions connect and wait; then all identify at once.
//! - `fanout`: N sessions, then a REST publisher posts at each rate of
//!   `--rates` for `--step` seconds; `--slow-percent` of the sessions never
//!   read their socket.
//! - `listen`: N sessions that count what someone else sends them; each line
//!   `mark` on stdin reports what arrived since the last one, `stop` ends.
//!
//! Output: one JSON object per line on stdout (progress on stderr).
//! Connections come from 127.0.0.2.. (`--sources` addresses), so ephemeral
//! ports never run out; the file descriptor limit is raised as far as the
//! system allows. Every loop is bounded in count and time, and traffic goes
//! to loopback only.

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

const FIRST_USER: u64 = 2_000_000_000_000_000_000;
const SHARDS: usize = 64;

#[derive(Clone, Debug)]
struct Args {
    port: u16,
    mode: String,
    sessions: usize,
    first: u64,
    intents: u64,
    hold: u64,
    rates: Vec<u64>,
    step: u64,
    channel: u64,
    bot_token: String,
    slow_percent: f64,
    sources: u32,
    connecting: usize,
    publishers: usize,
    deadline: u64,
}

fn args() -> Args {
    let mut a = Args {
        port: 4000,
        mode: "connect".into(),
        sessions: 100,
        first: 0,
        intents: 513,
        hold: 60,
        rates: vec![100],
        step: 5,
        channel: 0,
        bot_token: String::new(),
        slow_percent: 0.0,
        sources: 64,
        connecting: 512,
        publishers: 8,
        deadline: 600,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let (k, v) = (pair[0].as_str(), pair.get(1).map(String::as_str).unwrap_or(""));
        let num = || v.parse::<u64>().unwrap_or_else(|_| die(&format!("{k} wants a number, got {v:?}")));
        match k {
            "--port" => a.port = num() as u16,
            "--mode" => a.mode = v.into(),
            "--sessions" => a.sessions = num() as usize,
            "--first" => a.first = num(),
            "--intents" => a.intents = num(),
            "--hold" => a.hold = num(),
            "--rates" => a.rates = v.split(',').map(|r| r.parse().unwrap_or_else(|_| die("--rates wants numbers"))).collect(),
            "--step" => a.step = num(),
            "--channel" => a.channel = num(),
            "--bot-token" => a.bot_token = v.into(),
            "--slow-percent" => a.slow_percent = v.parse().unwrap_or_else(|_| die("--slow-percent wants a number")),
            "--sources" => a.sources = num().clamp(1, 250) as u32,
            "--connecting" => a.connecting = num().max(1) as usize,
            "--publishers" => a.publishers = num().max(1) as usize,
            "--deadline" => a.deadline = num(),
            _ => die(&format!("unknown option {k}")),
        }
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("loadgen: {msg}");
    std::process::exit(2)
}

fn emit(v: serde_json::Value) {
    use std::io::Write;
    // Whoever reads us may be gone; that is not a reason to panic.
    let _ = writeln!(std::io::stdout(), "{v}");
}

/// The dev token of synthetic user `i` (see Realtime.Seed.Synthetic).
fn token(i: u64) -> String {
    use base64::Engine;
    let id = (FIRST_USER + i).to_string();
    format!("{}.RTsyn0.synthetic-user-token-not-a-secret", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id))
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Raises the open-files limit as far as allowed; returns the limit in force.
fn raise_fd_limit(wanted: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        for max in [wanted.max(lim.rlim_max), lim.rlim_max] {
            let new = libc::rlimit { rlim_cur: max, rlim_max: max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 {
                return max;
            }
        }
        lim.rlim_cur
    }
}

/// Histograms sharded to keep sessions from contending on one lock.
struct Latencies(Vec<Mutex<Histogram<u64>>>);

impl Latencies {
    fn new() -> Self {
        Latencies((0..SHARDS).map(|_| Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3).expect("bounds"))).collect())
    }
    fn record(&self, shard: usize, us: u64) {
        let mut h = self.0[shard % SHARDS].lock().unwrap_or_else(|e| e.into_inner());
        let _ = h.record(us.clamp(1, 120_000_000));
    }
    /// Merges and empties every shard.
    fn take(&self) -> Histogram<u64> {
        let mut all = Histogram::new_with_bounds(1, 120_000_000, 3).expect("bounds");
        for s in &self.0 {
            let mut h = s.lock().unwrap_or_else(|e| e.into_inner());
            let _ = all.add(&*h);
            h.reset();
        }
        all
    }
}

fn summary(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    json!({"count": h.len(), "p50_ms": ms(0.5), "p99_ms": ms(0.99), "p999_ms": ms(0.999), "max_ms": h.max() as f64 / 1000.0})
}

#[derive(Default)]
struct Counters {
    hello: AtomicUsize,
    ready: AtomicUsize,
    failed: AtomicUsize,
    closed: AtomicUsize,
    delivered: AtomicU64,
}

struct Shared {
    args: Args,
    counters: Counters,
    ready_latency: Latencies,
    event_latency: Latencies,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Phase {
    Wait,
    Identify,
    Stop,
}

async fn session(i: usize, sh: Arc<Shared>, mut phase: watch::Receiver<Phase>, connecting: Arc<Semaphore>) {
    let a = &sh.args;
    let permit = connecting.acquire().await;
    let src = Ipv4Addr::new(127, 0, 0, 2 + (i as u32 % a.sources) as u8);
    let stream = async {
        let sock = TcpSocket::new_v4()?;
        sock.bind(SocketAddr::new(src.into(), 0))?;
        let s = sock.connect(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), a.port)).await?;
        s.set_nodelay(true)?;
        Ok::<TcpStream, std::io::Error>(s)
    };
    let stream = match tokio::time::timeout(Duration::from_secs(30), stream).await {
        Ok(Ok(s)) => s,
        _ => return fail(&sh, i, "connect"),
    };
    let config = WebSocketConfig { write_buffer_size: 0, ..WebSocketConfig::default() };
    let url = format!("ws://127.0.0.1:{}/?v=10&encoding=json", a.port);
    let mut ws = match tokio::time::timeout(Duration::from_secs(30), tokio_tungstenite::client_async_with_config(url, stream, Some(config))).await {
        Ok(Ok((ws, _))) => ws,
        _ => return fail(&sh, i, "upgrade"),
    };
    let interval = match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<serde_json::Value>(&t).ok().and_then(|v| v["d"]["heartbeat_interval"].as_u64()),
        _ => None,
    };
    let Some(interval) = interval else { return fail(&sh, i, "hello") };
    drop(permit);
    sh.counters.hello.fetch_add(1, Relaxed);

    if a.mode == "storm" {
        while *phase.borrow() == Phase::Wait {
            if phase.changed().await.is_err() {
                return;
            }
        }
    }

    let identify = json!({"op": 2, "d": {"token": token(a.first + i as u64), "intents": a.intents,
        "properties": {"os": "linux", "browser": "loadgen", "device": "loadgen"}}});
    let t0 = Instant::now();
    if ws.send(Message::Text(identify.to_string())).await.is_err() {
        return fail(&sh, i, "identify");
    }
    let mut seq: u64 = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match tokio::time::timeout_at(deadline.into(), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if let Some(s) = field_u64(&t, "\"s\":") {
                    seq = s;
                }
                if t.contains("\"t\":\"READY\"") {
                    break;
                }
            }
            _ => return fail(&sh, i, "ready"),
        }
    }
    sh.ready_latency.record(i, t0.elapsed().as_micros() as u64);
    sh.counters.ready.fetch_add(1, Relaxed);

    let slow = is_slow(a, i);
    let first_beat = Duration::from_millis(interval * (i as u64 % 97) / 97);
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + first_beat, Duration::from_millis(interval));
    loop {
        tokio::select! {
            _ = beat.tick() => {
                if ws.send(Message::Text(format!("{{\"op\":1,\"d\":{seq}}}"))).await.is_err() {
                    sh.counters.closed.fetch_add(1, Relaxed);
                    return;
                }
            }
            frame = ws.next(), if !slow => match frame {
                Some(Ok(Message::Text(t))) => {
                    if let Some(s) = field_u64(&t, "\"s\":") { seq = s; }
                    if t.contains("\"t\":\"MESSAGE_CREATE\"") {
                        sh.counters.delivered.fetch_add(1, Relaxed);
                        if let Some(sent) = nonce_us(&t) {
                            sh.event_latency.record(i, now_us().saturating_sub(sent));
                        }
                    }
                }
                Some(Ok(_)) => {}
                _ => { sh.counters.closed.fetch_add(1, Relaxed); return; }
            },
            _ = phase.changed() => {
                if *phase.borrow() == Phase::Stop {
                    let _ = ws.close(None).await;
                    return;
                }
            }
        }
    }
}

/// One session in 1/percent never reads again (it still heartbeats).
fn is_slow(a: &Args, i: usize) -> bool {
    a.slow_percent > 0.0 && (i as f64 % (100.0 / a.slow_percent)) < 1.0
}

fn fail(sh: &Shared, i: usize, stage: &str) {
    if sh.counters.failed.fetch_add(1, Relaxed) < 5 {
        eprintln!("loadgen: session {i} failed at {stage}");
    }
}

/// The unsigned integer after `key` in `text` (`"s":12` -> 12).
fn field_u64(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits: &str = &text[at..at + text[at..].bytes().take_while(u8::is_ascii_digit).count()];
    digits.parse().ok()
}

/// The send time carried in a message's nonce (`"nonce":"1700000000000000"`).
fn nonce_us(text: &str) -> Option<u64> {
    field_u64(text, "\"nonce\":\"")
}

/// Posts messages at `rate` per second for `secs` over `conns` keep-alive
/// connections; returns (sent, ok).
async fn publish(a: &Args, rate: u64, secs: u64) -> (u64, u64) {
    let per_conn = (rate as f64 / a.publishers as f64).max(0.001);
    let mut tasks = Vec::new();
    for p in 0..a.publishers {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let (mut sent, mut ok) = (0u64, 0u64);
            let Ok(stream) = TcpStream::connect(("127.0.0.1", a.port)).await else { return (0, 0) };
            let _ = stream.set_nodelay(true);
            let mut stream = BufReader::new(stream);
            let gap = Duration::from_secs_f64(1.0 / per_conn);
            let start = tokio::time::Instant::now() + gap.mul_f64(p as f64 / a.publishers as f64);
            let mut tick = tokio::time::interval_at(start, gap);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let end = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < end {
                tick.tick().await;
                let body = format!("{{\"content\":\"load\",\"nonce\":\"{}\"}}", now_us());
                let req = format!(
                    "POST /api/v10/channels/{}/messages HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bot {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
                    a.channel, a.bot_token, body.len(), body
                );
                sent += 1;
                if stream.get_mut().write_all(req.as_bytes()).await.is_err() {
                    break;
                }
                match read_response(&mut stream).await {
                    Some(200) => ok += 1,
                    Some(_) => {}
                    None => break,
                }
            }
            (sent, ok)
        }));
    }
    let mut total = (0, 0);
    for t in tasks {
        if let Ok((s, o)) = t.await {
            total = (total.0 + s, total.1 + o);
        }
    }
    total
}

/// Reads one HTTP/1.1 response with a content-length; returns its status.
async fn read_response(stream: &mut BufReader<TcpStream>) -> Option<u16> {
    let mut line = String::new();
    stream.read_line(&mut line).await.ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = 0usize;
    loop {
        line.clear();
        stream.read_line(&mut line).await.ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(status)
}

async fn wait_until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

async fn run(a: Args) {
    let fds = raise_fd_limit((a.sessions as u64) * 2 + 4096);
    if fds < a.sessions as u64 + 256 {
        die(&format!("the open-files limit is {fds}; {} sessions need more: raise it with `ulimit -n {}` (as root) or run as root", a.sessions, a.sessions + 4096));
    }
    let sh = Arc::new(Shared { args: a.clone(), counters: Counters::default(), ready_latency: Latencies::new(), event_latency: Latencies::new() });
    let (phase_tx, phase_rx) = watch::channel(Phase::Wait);
    let connecting = Arc::new(Semaphore::new(a.connecting));
    let deadline = Instant::now() + Duration::from_secs(a.deadline);
    let start = Instant::now();
    let mut handles = Vec::with_capacity(a.sessions);
    for i in 0..a.sessions {
        handles.push(tokio::spawn(session(i, sh.clone(), phase_rx.clone(), connecting.clone())));
    }
    let c = &sh.counters;
    let settled = |target: &AtomicUsize| target.load(Relaxed) + c.failed.load(Relaxed) >= a.sessions;

    if a.mode == "storm" {
        wait_until(deadline, || settled(&c.hello)).await;
        let connected = c.hello.load(Relaxed);
        let t0 = Instant::now();
        let _ = phase_tx.send(Phase::Identify);
        wait_until(deadline, || settled(&c.ready)).await;
        let secs = t0.elapsed().as_secs_f64();
        let ready = c.ready.load(Relaxed);
        emit(json!({"event": "storm", "sessions": connected, "ready": ready, "failed": c.failed.load(Relaxed),
            "seconds": secs, "identify_per_s": ready as f64 / secs, "ready_latency": summary(&sh.ready_latency.take())}));
    } else {
        let _ = phase_tx.send(Phase::Identify);
        let all = wait_until(deadline, || settled(&c.ready)).await;
        emit(json!({"event": "connected", "sessions": c.ready.load(Relaxed), "failed": c.failed.load(Relaxed), "complete": all,
            "seconds": start.elapsed().as_secs_f64(), "ready_latency": summary(&sh.ready_latency.take())}));
    }

    match a.mode.as_str() {
        "connect" => {
            // Hold until told to stop, or for --hold seconds.
            let mut stdin = BufReader::new(tokio::io::stdin()).lines();
            let hold = tokio::time::sleep(Duration::from_secs(a.hold));
            tokio::pin!(hold);
            loop {
                tokio::select! {
                    _ = &mut hold => break,
                    line = stdin.next_line() => match line {
                        Ok(Some(l)) if l.trim() == "stop" => break,
                        Ok(Some(_)) => {}
                        _ => break,
                    }
                }
            }
            emit(json!({"event": "held", "sessions": c.ready.load(Relaxed), "closed": c.closed.load(Relaxed)}));
        }
        "fanout" => {
            // Slow sessions never read what they are sent: count the others.
            let slow = (0..a.sessions).filter(|&i| is_slow(&a, i)).count();
            let receivers = c.ready.load(Relaxed).saturating_sub(slow);
            for &rate in &a.rates {
                if Instant::now() >= deadline {
                    break;
                }
                emit(json!({"event": "step_begin", "rate": rate}));
                sh.event_latency.take();
                let before = c.delivered.load(Relaxed);
                let t0 = Instant::now();
                let (sent, ok) = publish(&a, rate, a.step).await;
                // Let what was sent arrive (bounded), then count.
                let expected = before + ok * receivers as u64;
                let drain_until = Instant::now() + Duration::from_secs(10);
                wait_until(drain_until.min(deadline), || c.delivered.load(Relaxed) >= expected).await;
                let secs = t0.elapsed().as_secs_f64();
                let delivered = c.delivered.load(Relaxed) - before;
                emit(json!({"event": "step", "rate": rate, "sent": sent, "accepted": ok, "receivers": receivers,
                    "delivered": delivered, "expected": ok * receivers as u64, "seconds": secs,
                    "delivered_per_s": delivered as f64 / secs, "closed": c.closed.load(Relaxed),
                    "latency": summary(&sh.event_latency.take())}));
            }
        }
        "listen" => {
            let mut stdin = BufReader::new(tokio::io::stdin()).lines();
            let (mut last, mut since) = (c.delivered.load(Relaxed), Instant::now());
            sh.event_latency.take();
            while let Ok(Some(line)) = tokio::time::timeout_at(deadline.into(), stdin.next_line()).await.unwrap_or(Ok(None)) {
                match line.trim() {
                    "mark" => {
                        let now = c.delivered.load(Relaxed);
                        let secs = since.elapsed().as_secs_f64();
                        emit(json!({"event": "mark", "delivered": now - last, "seconds": secs, "delivered_per_s": (now - last) as f64 / secs,
                            "closed": c.closed.load(Relaxed), "latency": summary(&sh.event_latency.take())}));
                        (last, since) = (now, Instant::now());
                    }
                    "stop" => break,
                    _ => {}
                }
            }
        }
        _ => {}
    }

    let _ = phase_tx.send(Phase::Stop);
    for h in handles {
        let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
    }
    emit(json!({"event": "done", "failed": c.failed.load(Relaxed), "closed": c.closed.load(Relaxed), "fd_limit": fds}));
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(run(a));
    // Sessions that never finished (a server that stopped answering) do not
    // hold the process.
    rt.shutdown_timeout(Duration::from_secs(1));
}
